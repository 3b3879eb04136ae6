import torch
from helpers import save_tiny_model
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline


def test_pipeline_returns_config_label_names_on_one_text_and_a_list(tmp_path):
    model, tokenizer = save_tiny_model(tmp_path)
    classifier = pipeline("text-classification", model=str(tmp_path))
    one = classifier("a great movie")
    assert len(one) == 1 and one[0]["label"] in {"neg", "pos"} and 0 < one[0]["score"] <= 1
    texts = ["a great movie", "terrible and boring", "loved it"]
    many = classifier(texts)
    assert len(many) == len(texts) and all(r["label"] in {"neg", "pos"} for r in many)

    # the scores are the model's own softmax
    with torch.no_grad():
        probs = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.softmax(-1)
    for row, result in zip(probs, many):
        assert abs(row.max().item() - result["score"]) < 1e-5
        assert model.config.id2label[int(row.argmax())] == result["label"]


def test_pipeline_top_k_none_gives_every_label(tmp_path):
    save_tiny_model(tmp_path)
    classifier = pipeline("text-classification", model=str(tmp_path))
    results = classifier(["a great movie", "bad"], top_k=None)
    for result in results:
        assert sorted(r["label"] for r in result) == ["neg", "pos"]
        assert abs(sum(r["score"] for r in result) - 1) < 1e-5


def test_pipeline_batching_matches_one_by_one(tmp_path):
    save_tiny_model(tmp_path)
    classifier = pipeline("text-classification", model=str(tmp_path))
    texts = ["a great movie with great actors and a great story", "bad", "the ending was fine", ""]
    alone = classifier(texts, top_k=None)
    batched = classifier(texts, top_k=None, batch_size=len(texts))
    for a, b in zip(alone, batched):
        assert {r["label"]: round(r["score"], 5) for r in a} == {r["label"]: round(r["score"], 5) for r in b}


def test_auto_classes_load_the_folder(tmp_path):
    model, tokenizer = save_tiny_model(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    loaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    batch = loaded_tokenizer(["great film", "bad"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits, atol=1e-6, rtol=0)
