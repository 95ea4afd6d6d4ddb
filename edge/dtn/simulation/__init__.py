"""Discrete-event simulation of the mine's DTN: the real bundle store and routers on every node, a virtual
clock, in-memory links, over the world model's layout and mobility.

``contacts`` derives the fixed network and the contacts of moving nodes, ``traffic`` what nodes send,
``engine`` runs the events, ``scenario`` builds a shift (normal or incident), ``report`` computes the ONE
simulator's metrics, ``cli`` runs the matrix (``minegate dtn simulate``).
"""
