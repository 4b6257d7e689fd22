"""Text through the nine steps: text data steps, tokenizers fitted on train, text models."""
