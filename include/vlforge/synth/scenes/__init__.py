"""Generated scenes: text-to-image renders of recipe prompts, labelled by the pre-annotation VLM, screened by CLIP, reviewed by people.

- ``render``: the scene op: ``draw_scene(prompt, settings, rng)`` draws JSON-able parameters (the
  diffusion seed among them) and ``DiffusersRenderer.render(scene)`` turns them into an image,
  deterministically, with a local diffusers Stable Diffusion pipeline and a seeded
  ``torch.Generator``;
- ``clip_score``: image-prompt agreement as the cosine similarity of a local CLIP model's embeddings;
- ``stage``: shards over the prompts, each scene rendered, stored, screened and labelled; the
  survivors written as one Label Studio review file whose tasks carry the scene's lineage.

A reviewer accepts a scene by marking an annotation of it ground truth; the export then feeds a
release like any Label Studio source (``vlforge.ingest.scene_tasks``).
"""
