"""Many kernels: archives of kernel BTF, kernel-to-kernel diffs, and the engine that runs them."""
