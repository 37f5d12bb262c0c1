"""vlforge.quality.metrics.bert_encoder: the token ids and token states transformers gives, without transformers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from support.tiny_bert import build_tiny_bert

from vlforge.quality.metrics.bert_encoder import WordPieceTokenizer, load_bert_encoder, plain_bert
from vlforge.quality.metrics.bertscore import BertScorer, default_model_path

pytestmark = pytest.mark.slow  # loads transformers to compare with it

TEXTS = [
    "A dog runs along the beach.",
    "Café crème, naïve résumé",
    "一只猫 on a mat",
    "left [SEP] right",
    "emoji 🐶 and\ttabs\x00",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ, İstanbul, ß",
    " ".join(["a crowded harbour with fishing boats"] * 120),  # longer than 512 tokens
]


def _transformers_states(folder: Path, num_layers: int, ids: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder)
    model.encoder.layer = torch.nn.ModuleList(list(model.encoder.layer[:num_layers]))
    with torch.inference_mode():
        return model.eval().to(dtype)(torch.tensor([ids]))[0]


def _transformers_ids(folder: Path, texts: list[str]) -> list[tuple[int, ...]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, use_fast=False)
    return [
        tuple(tokenizer.encode(text, add_special_tokens=True, max_length=tokenizer.model_max_length, truncation=True))
        for text in texts
    ]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), TEXTS, num_layers=3)


@pytest.mark.parametrize("num_layers", [6, 3, 0])
def test_minilm_token_states_equal_transformers(num_layers: int) -> None:
    folder = Path(default_model_path())
    assert plain_bert(folder)
    encoder = load_bert_encoder(folder, num_layers, torch.float64, "cpu")
    for ids in WordPieceTokenizer.from_folder(folder).encode(TEXTS):
        with torch.inference_mode():
            ours = encoder(torch.tensor([ids]))
        assert (ours - _transformers_states(folder, num_layers, ids, torch.float64)).abs().max() < 1e-12


def test_float32_states_equal_transformers_float32() -> None:
    folder = Path(default_model_path())
    encoder = load_bert_encoder(folder, 6, torch.float32, "cpu")
    (ids,) = WordPieceTokenizer.from_folder(folder).encode(TEXTS[:1])
    with torch.inference_mode():
        assert (encoder(torch.tensor([ids])) - _transformers_states(folder, 6, ids, torch.float32)).abs().max() < 1e-5


def test_minilm_token_ids_equal_transformers_with_its_own_cut_not_tokenizer_json_s() -> None:
    folder = Path(default_model_path())
    assert json.loads((folder / "tokenizer.json").read_text())["truncation"]["max_length"] == 128  # sentence-transformers'
    ours = WordPieceTokenizer.from_folder(folder).encode(TEXTS)
    assert ours == _transformers_ids(folder, TEXTS)
    assert len(ours[-1]) == 512


def test_a_random_bert_gives_transformers_ids_and_states(tiny_bert: Path) -> None:
    assert plain_bert(tiny_bert)
    ids = WordPieceTokenizer.from_folder(tiny_bert).encode(TEXTS[:3])
    assert ids == _transformers_ids(tiny_bert, TEXTS[:3])
    encoder = load_bert_encoder(tiny_bert, 3, torch.float64, "cpu")
    with torch.inference_mode():
        assert (encoder(torch.tensor([ids[0]])) - _transformers_states(tiny_bert, 3, ids[0], torch.float64)).abs().max() < 1e-12


def test_a_checkpoint_saved_from_a_head_model_loads_its_bert(tiny_bert: Path, tmp_path: Path) -> None:
    from transformers import BertForMaskedLM

    folder = tmp_path / "masked_lm"
    BertForMaskedLM.from_pretrained(tiny_bert).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_bert / name, folder / name)
    (ids,) = WordPieceTokenizer.from_folder(folder).encode(TEXTS[:1])
    with torch.inference_mode():
        ours = load_bert_encoder(folder, 3, torch.float64, "cpu")(torch.tensor([ids]))
    assert (ours - _transformers_states(tiny_bert, 3, ids, torch.float64)).abs().max() < 1e-12


def test_what_is_not_a_plain_bert(tiny_bert: Path, tmp_path: Path) -> None:
    def variant(name: str, **config: object) -> Path:
        folder = tmp_path / name
        shutil.copytree(tiny_bert, folder)
        settings = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**settings, **config}))
        return folder

    assert not plain_bert(variant("roberta", model_type="roberta"))
    assert not plain_bert(variant("relative", position_embedding_type="relative_key"))
    assert not plain_bert(variant("gelu_new", hidden_act="gelu_new"))
    no_tokenizer_json = variant("vocab_only")
    (no_tokenizer_json / "tokenizer.json").unlink()
    assert not plain_bert(no_tokenizer_json)


def test_layers_out_of_range_and_a_missing_weight_are_named(tiny_bert: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    with pytest.raises(ValueError, match="num_layers must be between 0 and 3"):
        load_bert_encoder(tiny_bert, 4, torch.float64, "cpu")
    folder = tmp_path / "damaged"
    shutil.copytree(tiny_bert, folder)
    weights = load_file(folder / "model.safetensors")
    del weights["encoder.layer.1.output.dense.weight"]
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(ValueError, match=r"model.safetensors: no weight encoder.layer.1.output.dense.weight \(1 missing\)"):
        load_bert_encoder(folder, 3, torch.float64, "cpu")
    assert load_bert_encoder(folder, 1, torch.float64, "cpu") is not None  # the first layer alone is whole


def test_an_encoder_that_is_not_a_plain_bert_scores_through_transformers_the_same(tiny_bert: Path, tmp_path: Path) -> None:
    through_transformers = tmp_path / "vocab_only"
    shutil.copytree(tiny_bert, through_transformers)
    (through_transformers / "tokenizer.json").unlink()  # transformers builds its tokenizer from vocab.txt
    candidates, references = TEXTS[:3], [TEXTS[1], TEXTS[0], "a mat"]
    plain = BertScorer(model_path=str(tiny_bert), num_layers=3)
    other = BertScorer(model_path=str(through_transformers), num_layers=3)
    assert not isinstance(other.tokenizer, WordPieceTokenizer)
    assert other.score(candidates, references) == plain.score(candidates, references)


def test_a_folder_without_a_length_limit_is_cut_at_the_model_s_positions(tiny_bert: Path, tmp_path: Path) -> None:
    folder = tmp_path / "no_limit"
    shutil.copytree(tiny_bert, folder)
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    assert settings["model_max_length"] == 64
    (folder / "tokenizer_config.json").write_text(json.dumps({**settings, "model_max_length": 1e30}))  # transformers' "none"
    words = " ".join(["a mat"] * 100)
    assert [len(ids) for ids in WordPieceTokenizer.from_folder(folder).encode([words, "a mat"])] == [64, 4]
