"""What the GPU suite (benchmarks/gpu_suite.sh) runs besides the benchmarks: the probe of correctness on the
device, the sm_90 compile check, carrying the wheels, and filing the rows it measured."""
