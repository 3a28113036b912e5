"""Makes tiny random Hugging Face sequence classifiers (BERT, DistilBERT,
RoBERTa) with Python transformers, and the logits transformers computes for a
padded batch of mixed-length texts, so that earshot's Rust loader can be
checked against them (tests/scorer_classifiers.rs).

    python make_tiny_classifiers.py OUTPUT_DIR BERT_VOCAB_TXT

OUTPUT_DIR/{bert,distilbert,roberta}/ get config.json, model.safetensors and
the tokenizer files; OUTPUT_DIR/expected.json the texts, token ids and logits.
"""

import json
import os
import shutil
import sys

import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertTokenizer,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
    RobertaTokenizer,
)

MAX_TOKENS = 128

TEXTS = [
    "ok",
    "The new update broke my phone, thanks a lot @acme",
    "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e \u2014 na\u00efve r\u00e9sum\u00e9",
    "\U0001F621\U0001F621 worst airline ever!!! #neveragain \U0001F92C",
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 mixed RTL text",
    "",
    "love it " * 90,  # longer than the token limit: truncated the same way
    "Customer service put me on hold for 3 hours. Three. Hours. Unacceptable.",
]

# Texts the RoBERTa byte-level BPE vocabulary is trained on.
BPE_CORPUS = [
    "the flight was delayed again and nobody told us anything",
    "love the new phone, battery lasts all day",
    "customer service was rude and unhelpful",
    "thanks for the quick reply, problem solved",
    "worst experience ever, never flying with them again",
    "the update broke everything on my laptop",
    "great coffee and friendly staff at the airport",
    "hold music for three hours is not customer service",
] * 20


def logits_for(model, encoded):
    with torch.no_grad():
        return model(
            input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]
        ).logits.tolist()


def main() -> None:
    output, bert_vocab = sys.argv[1], sys.argv[2]
    torch.manual_seed(7)
    expected = {"texts": TEXTS, "max_tokens": MAX_TOKENS, "models": {}}

    def finish(name, model, tokenizer, directory):
        model.eval()
        model.save_pretrained(directory, safe_serialization=True)
        encoded = tokenizer(
            TEXTS, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        )
        ids = [
            [int(token) for token, keep in zip(row, mask) if keep]
            for row, mask in zip(encoded["input_ids"].tolist(), encoded["attention_mask"].tolist())
        ]
        expected["models"][name] = {
            "input_ids": ids,
            "logits": logits_for(model, encoded),
            "labels": [model.config.id2label[index] for index in range(model.config.num_labels)],
            "multi_label": model.config.problem_type == "multi_label_classification",
        }

    small = dict(initializer_range=0.2)

    def wordpiece_directory(name):
        # MiniLM's uncased WordPiece vocabulary, shared by BERT and DistilBERT.
        directory = os.path.join(output, name)
        os.makedirs(directory, exist_ok=True)
        shutil.copy(bert_vocab, os.path.join(directory, "vocab.txt"))
        tokenizer = BertTokenizer(os.path.join(directory, "vocab.txt"), do_lower_case=True)
        tokenizer.save_pretrained(directory)
        return directory, tokenizer

    # BERT, uncased WordPiece (MiniLM's vocabulary), 3 sentiment labels.
    directory, tokenizer = wordpiece_directory("bert")
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=37, max_position_embeddings=MAX_TOKENS,
        id2label={0: "negative", 1: "neutral", 2: "positive"},
        label2id={"negative": 0, "neutral": 1, "positive": 2}, **small,
    )
    finish("bert", BertForSequenceClassification(config), tokenizer, directory)

    # DistilBERT, same vocabulary, 2 anonymous labels.
    directory, tokenizer = wordpiece_directory("distilbert")
    config = DistilBertConfig(
        vocab_size=tokenizer.vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=37,
        max_position_embeddings=MAX_TOKENS, num_labels=2, **small,
    )
    finish("distilbert", DistilBertForSequenceClassification(config), tokenizer, directory)

    # RoBERTa, byte-level BPE trained here, multi-label toxicity.
    directory = os.path.join(output, "roberta")
    os.makedirs(directory, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        BPE_CORPUS, vocab_size=400, min_frequency=2,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    )
    bpe.save_model(directory)
    tokenizer = RobertaTokenizer(
        os.path.join(directory, "vocab.json"), os.path.join(directory, "merges.txt")
    )
    tokenizer.save_pretrained(directory)
    config = RobertaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=37, max_position_embeddings=MAX_TOKENS + 2,
        type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        problem_type="multi_label_classification",
        id2label={0: "toxic", 1: "obscene", 2: "insult"},
        label2id={"toxic": 0, "obscene": 1, "insult": 2}, **small,
    )
    finish("roberta", RobertaForSequenceClassification(config), tokenizer, directory)

    with open(os.path.join(output, "expected.json"), "w", encoding="utf-8") as handle:
        json.dump(expected, handle)


if __name__ == "__main__":
    main()
