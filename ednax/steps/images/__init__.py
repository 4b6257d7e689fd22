"""Image steps: image folders and CSVs (data), batch transforms and augmentations
(preprocess, applied on the device), and pretrained backbones (model)."""
