"""Collectors and the simulated market, behind small interfaces."""
