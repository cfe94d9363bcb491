"""Where ops this TensorFlow does not register usually come from (for error messages)."""

from __future__ import annotations

__all__ = ["provider_of"]

# Where ops this TensorFlow does not register usually come from.
_PROVIDER_PREFIXES = {
    "Addons>": "tensorflow_addons",
    "TFText>": "tensorflow_text",
    "IO>": "tensorflow_io",
    "Io>": "tensorflow_io",
    "Scann>": "scann",
    "SentencepieceOp": "sentencepiece (tf_sentencepiece) or tensorflow_text",
    "Sentencepiece": "tensorflow_text or sentencepiece (tf_sentencepiece)",
}
_PROVIDERS = {
    **dict.fromkeys(
        [
            "CaseFoldUTF8",
            "NormalizeUTF8",
            "NormalizeUTF8WithOffsetsMap",
            "RegexSplitWithOffsets",
            "WhitespaceTokenizeWithOffsets",
            "WhitespaceTokenizeWithOffsetsV2",
            "WordpieceTokenizeWithOffsets",
            "UnicodeScriptTokenizeWithOffsets",
            "SplitMergeTokenizeWithOffsets",
            "ConstrainedSequence",
            "MaxSpanningTree",
            "NgramsStringJoin",
            "SentenceFragments",
            "SpanAlignment",
            "SpanOverlaps",
            "ToLowerOp",
            "TokenizerFromLogits",
            "FastWordpieceTokenizeWithOffsets",
            "FastBertNormalize",
            "SentencepieceTokenizeOp",
            "SentencepieceDetokenizeOp",
        ],
        "tensorflow_text",
    ),
    **dict.fromkeys(
        [
            "ImageProjectiveTransform",
            "SkipGramGenerateCandidates",
            "BipartiteMatch",
            "SingleImageRandomDotStereograms",
            "PeriodicResample",
            "HardRoutingFunction",
            "RoutingFunction",
            "StochasticHardRoutingFunction",
            "KFeatureRoutingFunction",
            "ZeroInitializer",
            "NearestNeighbors",
            "KmeansPlusPlusInitialization",
            "WALSComputePartialLhsAndRhs",
            "MaskedMatmul",
            "SdcaFprint",
            "FusedConv2DBiasActivation",
            "CoupledInputForgetGateLSTMCell",
            "GatherTree",
            "BigQueryReader",
            "GenerateBigQueryReaderPartitions",
            "TPUReplicate",
            "Bucketize_contrib",
        ],
        "tf.contrib (TensorFlow 1.x only; removed in 2.0)",
    ),
    **dict.fromkeys(["KafkaDataset", "IgniteDataset", "KinesisDataset"], "tensorflow_io"),
}


def provider_of(op: str) -> str:
    """The library that usually provides ``op``, or a hint for custom ops."""
    if op in _PROVIDERS:
        return _PROVIDERS[op]
    for prefix, lib in _PROVIDER_PREFIXES.items():
        if op.startswith(prefix):
            return lib
    return "unknown (a custom op library loaded with tf.load_op_library)"
