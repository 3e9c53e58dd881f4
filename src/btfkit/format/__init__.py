"""The format and its container: kinds, strings, the BTF, reading, writing, building, the verifier's rules."""
