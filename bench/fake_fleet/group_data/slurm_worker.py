# As on the recording sandbox: its converge leaves the GPU stack alone.
cuda_manifest = None
