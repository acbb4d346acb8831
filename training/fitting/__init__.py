"""Fitting a model: splits and epoch order, the loader, GPU augmentation (with the second-shot
capture model), the schedule, the training loop, its run directory, and evaluation on a split."""
