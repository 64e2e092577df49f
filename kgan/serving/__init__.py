"""Serving: the SavedModel export for TF Serving, a local REST stand-in and its client,
and the image sources of `kgan sample`."""
