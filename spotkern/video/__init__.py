"""From match videos to per-frame features (soccernet_features.md): streamed decoding and SoccerNet's frame
selection (``frames``), the encoders (``encoders``: ``resnet152-soccernet``, Keras's ResNet-152 in PyTorch, and
``tiny``), SoccerNet's PCA (``pca``) and the ``spotkern extract`` pipeline (``extract``).

Needs the ``video`` extra (PyAV, h5py): ``pip install 'spotkern[video]'``."""
