"""Where is every miner: movement records in, a live per-miner location table and the muster list out."""
