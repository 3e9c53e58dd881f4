"""BTF from other sources: DWARF encoding (as pahole -J does), ELF section editing."""
