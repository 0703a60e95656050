"""LoRA fine-tuning runs: config, training loop, Trainer callback."""
