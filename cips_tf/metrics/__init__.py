"""Evaluation metrics: FID, KID, improved precision/recall, spectra, and their feature extractors.

Modules:
  fid               ActivationStatistics, frechet_distance, RealStatisticsCache (and quantize_images,
                    defined in cips_tf.latents)
  kid               kernel_distance (TF-GAN's KID estimator)
  precision_recall  precision_recall (Kynkaanniemi et al. 2019)
  spectrum          magnitude spectra and azimuthal integration, PNG plots
  inception         the standard FID Inception network, loaded from a local path
  feature_extractor the offline, non-standard Fashion-MNIST CNN extractor
  evaluate          evaluate_generator: all of the above for a generator vs a real dataset
  protocol          the evaluation protocol shared by cips-evaluate, the FID hook and the pipeline:
                    evaluate (the one evaluation the three run), load_extractor, parse_data_spec,
                    real_image_batches, sampler, make_sample_fn
  report            cips-evaluate's body: protocol.evaluate plus spectra and the metrics.json summary
  tfgan_compat      imports tensorflow_gan on TensorFlow without tf.estimator

Submodules are imported on demand (TF-GAN and Keras models are heavy), e.g.
`from cips_tf.metrics import fid`.
"""
