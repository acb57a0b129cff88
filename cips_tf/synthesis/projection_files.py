"""A projection written to disk: what `cips-project` leaves in its output directory per target.

`project_to_files(generator, target, out, ...)` projects one target image (`projection.project`),
then writes the target, the reconstruction, the two side by side, the progress strip (and video),
the latent (`projected_w.npz` or `projected_ws.npz`), the optimized noise, a render on a `scale`
times denser grid, and `projection.json` (PSNR of the projection and of the w_avg image, settings),
and returns that report. Pixels are converted to uint8 once; PSNR is measured on them (what a viewer
sees).
"""
import json
import time

import numpy as np
from PIL import Image

from cips_tf import latents, rendering
from cips_tf.synthesis import projection, video

# What a projection writes (globs for the --scale and --video variants).
OUTPUT_FILES = ("projection.json", "target.png", "projection.png", "compare.png", "progress.png", "progress.*",
                "projection_x*.png", "projected_w.npz", "projected_ws.npz", "noise.npz")


def project_to_files(generator, target, out, *, w_avg, w_std, avg_image, about, features=None,
                     features_name="none", space="w", num_steps=1000, snapshots=8, scale=4, write_video=True,
                     chunk_pixels=rendering.DEFAULT_CHUNK_PIXELS, **optimizer):
    """Projects `target` (float32 `[H, W, 3]` in [-1, 1], the model's size) and writes its files into
    `out` (which exists). `avg_image` is the w_avg render (the baseline a projection must beat);
    `about` (target, model, source) heads the report; `optimizer` goes to `projection.project`
    (pixel_weight, perceptual_weight, initial_learning_rate, initial_noise_factor, noise_ramp,
    optimize_noise, regularize_noise_weight, seed). Returns the report written to projection.json."""
    start = time.time()
    result = projection.project(generator, target[None], num_steps=num_steps, space=space, w_avg=w_avg, w_std=w_std,
                                features=features, snapshot_every=max(1, num_steps // snapshots), **optimizer)
    seconds = time.time() - start

    def save(name, image):
        Image.fromarray(rendering.to_uint8(image)).save(out / name)  # uint8 passes unchanged

    target_u8 = rendering.to_uint8(target)
    recon_u8 = rendering.to_uint8(result.images[0])
    save("target.png", target_u8)
    save("projection.png", recon_u8)
    save("compare.png", np.concatenate([target_u8, recon_u8], axis=1))
    frames = rendering.to_uint8(np.stack([images[0] for _, images in result.snapshots]))
    save("progress.png", latents.tile_images(frames, ncols=len(frames), pad=2))
    files = ["target.png", "projection.png", "compare.png", "progress.png"]
    if write_video:
        video_file = video.video_path(out / "progress")
        video.write_video(list(frames) + [frames[-1]] * 4, video_file, fps=4)  # hold the final frame
        files.append(video_file.name)
    if space == "w":
        np.savez(out / "projected_w.npz", w=result.w)
        files.append("projected_w.npz")
    else:
        np.savez(out / "projected_ws.npz", ws=result.w)
        files.append("projected_ws.npz")
    if result.noise is not None:
        np.savez(out / "noise.npz", **{f"noise_{i}": n for i, n in enumerate(result.noise)})
        files.append("noise.npz")
    if scale > 1:
        dense = rendering.render(generator, result.w, scale * generator.size, per_layer=result.per_layer,
                                 chunk_pixels=chunk_pixels, uint8=True)
        save(f"projection_x{scale}.png", dense[0])
        files.append(f"projection_x{scale}.png")
    report = {
        **about,
        "space": space,
        "steps": num_steps,
        "features": features_name,
        "optimize_noise": optimizer.get("optimize_noise", False),
        # PSNR on the written uint8 pixels (what a viewer sees).
        "psnr_db": float(projection.psnr(target_u8[None], recon_u8[None], 255.0)[0]),
        "psnr_w_avg_db": float(projection.psnr(target_u8[None], rendering.to_uint8(avg_image), 255.0)[0]),
        "final_loss": result.history[-1],
        "w_std": w_std,
        "seconds": round(seconds, 2),
        "snapshot_steps": [s for s, _ in result.snapshots],
        "files": files,
    }
    (out / "projection.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
