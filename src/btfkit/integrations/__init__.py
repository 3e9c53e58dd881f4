"""btfkit as the type source of other tools: drgn (:mod:`.drgn`) and Volatility 3 (:mod:`.isf`)."""
