"""Training: SG-RLVR on TRL's GRPOTrainer (video in generation and loss) and the SFT cold start."""
