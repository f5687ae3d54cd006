# As on the recording sandbox: 2 fake GPUs per worker; CPUs and memory come from the facts.
node = {"gpus": 2}
