"""The built-in entries, as `module:attr` strings: registered lazily like any plugin's, so
that the registry knows them without importing a step module."""

from __future__ import annotations

_SKLEARN = {"family": "sklearn"}
_TORCH = {"family": "torch"}

# (kind, name, target, tags)
TABULAR = [
    ("data", "sklearn_toy", "ednax.steps.data:SklearnToy", {}),
    ("data", "csv", "ednax.steps.data:Csv", {}),
    ("data", "parquet", "ednax.steps.data_sources:Parquet", {}),
    ("data", "sql", "ednax.steps.data_sources:Sql", {}),
    ("data", "synthetic", "ednax.steps.data:Synthetic", {}),
    ("preprocess", "standard_scaler", "ednax.steps.preprocess:StandardScaler", {}),
    ("preprocess", "minmax_scaler", "ednax.steps.preprocess:MinMaxScaler", {}),
    ("preprocess", "one_hot", "ednax.steps.preprocess:OneHot", {}),
    ("preprocess", "impute", "ednax.steps.preprocess:Impute", {}),
    ("preprocess", "pca", "ednax.steps.preprocess:PCA", {}),
    ("model", "random_forest", "ednax.steps.estimators:RandomForest", _SKLEARN),
    ("model", "gradient_boosting", "ednax.steps.estimators:GradientBoosting", _SKLEARN),
    ("model", "logistic_regression", "ednax.steps.estimators:LogisticRegression", _SKLEARN),
    ("model", "svm", "ednax.steps.estimators:SVM", _SKLEARN),
    ("model", "knn", "ednax.steps.estimators:KNN", _SKLEARN),
    ("model", "linear_regression", "ednax.steps.estimators:LinearRegression", _SKLEARN),
    ("model", "ridge", "ednax.steps.estimators:Ridge", _SKLEARN),
    ("metric", "accuracy", "ednax.steps.metrics:Accuracy", {}),
    ("metric", "f1_macro", "ednax.steps.metrics:F1Macro", {}),
    ("metric", "precision_macro", "ednax.steps.metrics:PrecisionMacro", {}),
    ("metric", "recall_macro", "ednax.steps.metrics:RecallMacro", {}),
    ("metric", "roc_auc", "ednax.steps.metrics:RocAuc", {}),
    ("metric", "rmse", "ednax.steps.metrics:RMSE", {}),
    ("metric", "mae", "ednax.steps.metrics:MAE", {}),
    ("metric", "r2", "ednax.steps.metrics:R2", {}),
    ("trainer", "sklearn", "ednax.steps.trainers:SklearnFit", _SKLEARN),
    ("save", "bundle", "ednax.steps.save:Bundle", {}),
    ("tracker", "none", "ednax.steps.trackers:NoTracker", {}),
    ("tracker", "mlflow", "ednax.steps.trackers:MLflowTracker", {}),
]

TORCH = [
    ("model", "mlp", "ednax.steps.nets:MLP", _TORCH),
    ("model", "cnn", "ednax.steps.nets:CNN", _TORCH),
    ("model", "linear", "ednax.steps.nets:Linear", _TORCH),
    ("weights", "none", "ednax.steps.weights:NoWeights", {}),
    ("weights", "checkpoint", "ednax.steps.weights:Checkpoint", {}),
    ("weights", "run", "ednax.steps.weights:FromRun", {}),
    ("weights", "xavier", "ednax.steps.weights:Xavier", {}),
    ("weights", "kaiming", "ednax.steps.weights:Kaiming", {}),
    ("loss", "cross_entropy", "ednax.steps.losses:CrossEntropy", {}),
    ("loss", "bce_with_logits", "ednax.steps.losses:BCEWithLogits", {}),
    ("loss", "mse", "ednax.steps.losses:MSE", {}),
    ("loss", "l1", "ednax.steps.losses:L1", {}),
    ("loss", "huber", "ednax.steps.losses:Huber", {}),
    ("optimizer", "adam", "ednax.steps.optim:Adam", {}),
    ("optimizer", "adamw", "ednax.steps.optim:AdamW", {}),
    ("optimizer", "sgd", "ednax.steps.optim:SGD", {}),
    ("optimizer", "rmsprop", "ednax.steps.optim:RMSprop", {}),
    ("scheduler", "none", "ednax.steps.schedulers:NoSchedule", {}),
    ("scheduler", "step", "ednax.steps.schedulers:StepDecay", {}),
    ("scheduler", "cosine", "ednax.steps.schedulers:Cosine", {}),
    ("scheduler", "onecycle", "ednax.steps.schedulers:OneCycle", {}),
    ("scheduler", "plateau", "ednax.steps.schedulers:Plateau", {}),
    ("trainer", "lightning", "ednax.steps.trainers_torch:Lightning", _TORCH),
    ("early_stopping", "plateau", "ednax.steps.stopping:EarlyStopping", {}),
    ("callback", "time_limit", "ednax.steps.callbacks:TimeLimit", {}),
    ("logger", "csv", "ednax.steps.loggers:Csv", {}),
    ("logger", "tensorboard", "ednax.steps.loggers:TensorBoard", {}),
    ("logger", "mlflow", "ednax.steps.loggers:MLflow", {}),
]

_IMAGE = {"modality": "image"}
_IMAGE_TORCH = {**_IMAGE, **_TORCH}

IMAGES = [
    ("data", "image_folder", "ednax.steps.images.data:ImageFolder", _IMAGE),
    ("data", "image_csv", "ednax.steps.images.data:ImageCsv", _IMAGE),
    ("model", "resnet", "ednax.steps.images.backbones:ResNet", _IMAGE_TORCH),
    ("model", "convnext", "ednax.steps.images.backbones:ConvNext", _IMAGE_TORCH),
    ("model", "vit", "ednax.steps.images.backbones:ViT", _IMAGE_TORCH),
    ("weights", "pretrained", "ednax.steps.weights:Pretrained", {}),
    ("callback", "freeze", "ednax.steps.freeze:Freeze", {}),
    *(
        ("preprocess", name, f"ednax.steps.images.transforms:{cls}", _IMAGE)
        for name, cls in [
            ("resize", "Resize"),
            ("center_crop", "CenterCrop"),
            ("normalize", "Normalize"),
            ("to_grayscale", "ToGrayscale"),
            ("random_resized_crop", "RandomResizedCrop"),
            ("random_crop", "RandomCrop"),
            ("horizontal_flip", "HorizontalFlip"),
            ("color_jitter", "ColorJitter"),
            ("rand_augment", "RandAugment"),
            ("trivial_augment", "TrivialAugment"),
            ("random_erasing", "RandomErasing"),
            ("mixup", "MixUp"),
            ("cutmix", "CutMix"),
        ]
    ),
]

_TEXT = {"modality": "text"}
_TEXT_TORCH = {"modality": "text", "family": "torch"}

TEXT = [
    ("data", "text_csv", "ednax.steps.text.data:TextCsv", _TEXT),
    ("data", "text_folder", "ednax.steps.text.data:TextFolder", _TEXT),
    ("preprocess", "wordpiece", "ednax.steps.text.tokenizers:WordPiece", _TEXT),
    ("preprocess", "bpe", "ednax.steps.text.tokenizers:BPE", _TEXT),
    ("preprocess", "unigram", "ednax.steps.text.tokenizers:Unigram", _TEXT),
    ("preprocess", "hf_tokenizer", "ednax.steps.text.tokenizers:HfTokenizer", _TEXT),
]

TEXT_MODELS = [
    ("model", "embedding_bag", "ednax.steps.text.models:EmbeddingBag", _TEXT_TORCH),
    ("model", "text_cnn", "ednax.steps.text.models:TextCNN", _TEXT_TORCH),
    ("model", "bert", "ednax.steps.text.models:Bert", _TEXT_TORCH),
    ("model", "distilbert", "ednax.steps.text.models:DistilBert", _TEXT_TORCH),
]

BUILTINS = (*TABULAR, *TORCH, *IMAGES, *TEXT, *TEXT_MODELS)
