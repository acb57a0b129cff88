"""SavedModel export and TF Serving signatures (`cips_tf.export.saved_model.export_generator`)."""
