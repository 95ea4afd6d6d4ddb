"""The multimodal fusion model of the hazard early warning (issue 5): data, network, training, export."""
