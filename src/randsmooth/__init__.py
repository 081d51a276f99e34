"""randsmooth: randomized-smoothing certification library (sampling, bounds, certification, metrics).

Conventions used throughout: images and noise live in [0, 1] pixel space, noise is added before the
model's normalisation layer and never clipped; sigma is the per-coordinate RMS of the noise; radii
are in the same units over all C*H*W coordinates.
"""

__version__ = "0.1.0"
