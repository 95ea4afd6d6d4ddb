"""Store-carry-forward delay-tolerant networking: bundles, their durable store, links, routing, the surface sink."""
