"""Training: the fit loop (``fit``) and starting a fit from another model folder (``transfer``)."""
