"""The course's experiments: weight initialization, optimizers, regularization, convolution.

Each lab is a function returning a ``LabResult`` (JSON-ready ``numbers`` + matplotlib
``figures``), so the CLI (``python -m cnn init-lab|optim-lab|reg-lab|conv-lab``) and the app
page call the same code:

- ``init.init_lab`` / ``init.epoch0`` / ``init.course_claims``: the BLOCK model at epoch 0.
- ``optim_race.optim_lab`` / ``race_ball`` / ``race_function``: the course's optimizers
  (``optimizers``) racing on the ball data and on 2-D test functions.
- ``reg_lab.reg_lab`` / ``feature_selection`` / ``dropout_demo``: L1 vs L2 (``regularization``).
- ``conv_lab.conv_lab``: NumPy conv/max-pool (``conv``) on the course's worked examples.
"""
