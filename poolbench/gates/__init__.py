"""Gates: checks over measured results (absolute expressions; baseline comparison)."""
