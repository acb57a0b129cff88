"""SavedModel export and TF Serving signatures (`cips_tf.export.saved_model.export_generator`); the
ONNX, OpenVINO and LiteRT exports beside it and their loaders (`cips_tf.export.runtimes`)."""
