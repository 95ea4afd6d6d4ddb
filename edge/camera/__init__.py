"""The camera path (issue 6): capture, health, motion gating, YOLO detection, zones, tracking, violations.

Frames stay on the gateway: what leaves this package is detections, events, alert text and per-frame feature
rows (never pixels), plus an optional local JPEG per event when a site turns snapshots on.
"""
