"""GPU workers: configless slurmd, NFS mounts, the exact CUDA manifest."""

# The exact CUDA/NVIDIA package manifest workers install before slurmd (a file in
# manifests/, see docs/cuda-manifests.md); None: the GPU stack is not managed. A partition
# file may set its own (older GPUs may need an older driver). A list holds one manifest per
# release; each worker installs the one for its own (/etc/os-release). Debian's own NVIDIA
# driver stack (535 on Debian 12, 550 on Debian 13), made by `python -m tools.cuda create`
# from deb.debian.org; ML wheels bring their own CUDA runtime and cuDNN, so the driver is
# what a worker must have exactly.
cuda_manifest = [
    "manifests/nvidia-535-debian12.yaml",
    "manifests/nvidia-550-debian13.yaml",
]

# A switch of manifest removes the old one's packages the new one does not list (the host
# then holds exactly the new manifest; `drift` agrees). False keeps them, unheld.
cuda_remove_unlisted = True

# root@mlchead's public key (the Puppet project's moz_slurm::worker::ssh): the head's root
# reaches every worker. Added to root's authorized_keys; keys already there stay.
root_ssh_keys = [
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC5UV+5spZsqSSZ+zGMwcShTgE4pJF2uihxCE4A0gVs7kJt+VW8TDkLyWIwLQfvUWK2dvjwfWYmh3EenRyYGS3Yo+5GWdAZZ+Wn1A/0w/oVK+YQOOEv6Ay58CUFtcESse0fLFKOPQvWLFRjys97M3xpjiGjg7p5MI5SBhduBwFPlGPDVLiBhlTpYP5dGordGpdXutgLGvzwIbZpYLhW/sjG+C/VgJ4mlDwDmyZG2gKKD3/aZHpNXBDZ2JDHJ1gEpfYv+Fgv8A1ryVYK4mgc+sAJfKcQH08fvjTkivQ2l/FVtcK/YYxw4I+olIt9W/C/bkllQrwMQZleACbFb6mB6g89 root@mlchead",
]
