"""Which op types a graph from an untrusted file may run: an allowlist, kept here as data.

Safe mode runs an op from a ``.meta`` or SavedModel only when its type is in ``ALLOWED``:
pure computation (math, arrays, nn, images, strings, sparse and ragged tensors), control flow
(``Switch``/``Merge``/``Enter``/..., and ``If``/``While``/``Case``/``PartitionedCall``, whose
function bodies are walked too: ``CALL_OPS``), random numbers, lookup tables and tensor arrays
built from tensors, and reading or assigning the graph's own variables (``VariableV2``,
``VarHandleOp``, ``Assign*``, ``Apply*`` optimizers). ``PrintV2`` is allowed only towards the
standard streams (``CONDITIONS``).

Everything else is unsafe, grouped below by what it does: file and checkpoint I/O (reads too:
a value read from a file can be fetched out), tf.data pipelines, summary and debug writers,
Python callbacks, network, RPC and collectives, process control (``Abort``), ops that may block
forever (queues, ``Recv``), ops that run a serialized graph or program
(``DatasetFromGraph``, ``MlirPassthroughOp``), device, internal and test ops. **Any op type in
neither list is unsafe too** (``UNLISTED``): ops this TensorFlow does not register (custom op
libraries, ``tf.contrib``) and ops added to TensorFlow after this list was made. The lists
cover every op registered in TensorFlow 2.21 (1,910 types); ``tests/test_metagraph_ops.py``
checks that the installed TensorFlow registers nothing unclassified, so a new TensorFlow makes
the suite ask for a decision instead of silently allowing a new op.

The checkpoint ops (``RESTORE_OPS``, ``SAVE_OPS``) are unsafe like any file I/O; the saver's
own subgraph may use them when ``legacy_saver.metagraph.saverdef`` proves it canonical.
``ASSET_READERS`` may read a SavedModel asset when their file name input is fed, by the loader,
with a path inside the model's ``assets/`` directory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = [
    "ALLOWED",
    "ASSET_READERS",
    "CALL_OPS",
    "CONDITIONS",
    "RESTORE_OPS",
    "SAVE_OPS",
    "UNLISTED",
    "UNSAFE",
    "unsafe_reason",
]

UNLISTED = (
    "not on the allowlist (an op this TensorFlow does not register, or one newer than the "
    "list): unsafe by default"
)


def _category(reason: str, names: str) -> dict[str, str]:
    return dict.fromkeys(names.split(), reason)


ALLOWED: frozenset[str] = frozenset(
    """
    Abs AccumulateNV2 Acos Acosh Add AddManySparseToTensorsMap AddN AddSparseToTensorsMap AddV2
    AdjustContrast AdjustContrastv2 AdjustHue AdjustSaturation All AllCandidateSampler Angle
    AnonymousHashTable AnonymousMutableDenseHashTable AnonymousMutableHashTable
    AnonymousMutableHashTableOfTensors Any ApplyAdaMax ApplyAdadelta ApplyAdagrad ApplyAdagradDA
    ApplyAdagradV2 ApplyAdam ApplyAddSign ApplyCenteredRMSProp ApplyFtrl ApplyFtrlV2
    ApplyGradientDescent ApplyMomentum ApplyPowerSign ApplyProximalAdagrad
    ApplyProximalGradientDescent ApplyRMSProp ApproxTopK ApproximateEqual ArgMax ArgMin AsString
    Asin Asinh Assert Assign AssignAdd AssignAddVariableOp AssignSub AssignSubVariableOp
    AssignVariableOp Atan Atan2 Atanh AudioMicrofrontend AudioSpectrogram AudioSummary
    AudioSummaryV2 AvgPool AvgPool3D AvgPool3DGrad AvgPoolGrad BandedTriangularSolve
    BatchCholesky BatchCholeskyGrad BatchFFT BatchFFT2D BatchFFT3D BatchIFFT BatchIFFT2D
    BatchIFFT3D BatchMatMul BatchMatMulV2 BatchMatMulV3 BatchMatrixBandPart
    BatchMatrixDeterminant BatchMatrixDiag BatchMatrixDiagPart BatchMatrixInverse
    BatchMatrixSetDiag BatchMatrixSolve BatchMatrixSolveLs BatchMatrixTriangularSolve
    BatchNormWithGlobalNormalization BatchNormWithGlobalNormalizationGrad BatchSelfAdjointEig
    BatchSelfAdjointEigV2 BatchSvd BatchToSpace BatchToSpaceND BesselI0 BesselI0e BesselI1
    BesselI1e BesselJ0 BesselJ1 BesselK0 BesselK0e BesselK1 BesselK1e BesselY0 BesselY1 Betainc
    BiasAdd BiasAddGrad BiasAddV1 Bincount Bitcast BitwiseAnd BitwiseOr BitwiseXor BlockLSTM
    BlockLSTMGrad BlockLSTMGradV2 BlockLSTMV2 BoostedTreesAggregateStats BoostedTreesBucketize
    BoostedTreesCalculateBestFeatureSplit BoostedTreesCalculateBestFeatureSplitV2
    BoostedTreesCalculateBestGainsPerFeature BoostedTreesCenterBias BoostedTreesCreateEnsemble
    BoostedTreesCreateQuantileStreamResource BoostedTreesDeserializeEnsemble
    BoostedTreesEnsembleResourceHandleOp BoostedTreesExampleDebugOutputs
    BoostedTreesFlushQuantileSummaries BoostedTreesGetEnsembleStates
    BoostedTreesMakeQuantileSummaries BoostedTreesMakeStatsSummary BoostedTreesPredict
    BoostedTreesQuantileStreamResourceAddSummaries BoostedTreesQuantileStreamResourceDeserialize
    BoostedTreesQuantileStreamResourceFlush
    BoostedTreesQuantileStreamResourceGetBucketBoundaries
    BoostedTreesQuantileStreamResourceHandleOp BoostedTreesSerializeEnsemble
    BoostedTreesSparseAggregateStats BoostedTreesSparseCalculateBestFeatureSplit
    BoostedTreesTrainingPredict BoostedTreesUpdateEnsemble BoostedTreesUpdateEnsembleV2
    BroadcastArgs BroadcastGradientArgs BroadcastTo Bucketize CSRSparseMatrixComponents
    CSRSparseMatrixToDense CSRSparseMatrixToSparseTensor CTCBeamSearchDecoder CTCGreedyDecoder
    CTCLoss CTCLossV2 Case Cast Ceil CheckNumerics CheckNumericsV2 Cholesky CholeskyGrad
    ClipByValue CombinedNonMaxSuppression Complex ComplexAbs
    CompositeTensorVariantFromComponents CompositeTensorVariantToComponents
    ComputeAccidentalHits Concat ConcatOffset ConcatV2 Conj ConjugateTranspose Const
    ControlTrigger Conv Conv2D Conv2DBackpropFilter Conv2DBackpropFilterV2 Conv2DBackpropInput
    Conv2DBackpropInputV2 Conv3D Conv3DBackpropFilter Conv3DBackpropFilterV2 Conv3DBackpropInput
    Conv3DBackpropInputV2 Cos Cosh CountUpTo CropAndResize CropAndResizeGradBoxes
    CropAndResizeGradImage Cross CudnnRNN CudnnRNNBackprop CudnnRNNBackpropV2 CudnnRNNBackpropV3
    CudnnRNNCanonicalToParams CudnnRNNCanonicalToParamsV2 CudnnRNNParamsSize
    CudnnRNNParamsToCanonical CudnnRNNParamsToCanonicalV2 CudnnRNNV2 CudnnRNNV3 Cumprod Cumsum
    CumulativeLogsumexp DataFormatDimMap DataFormatVecPermute Dawsn DecodeAndCropJpeg
    DecodeBase64 DecodeBmp DecodeCSV DecodeCompressed DecodeGif DecodeImage DecodeJSONExample
    DecodeJpeg DecodeJxl DecodePaddedRaw DecodePng DecodeRaw DecodeWav DecodeWebP DeepCopy
    DenseBincount DenseCountSparseOutput DenseToCSRSparseMatrix DenseToDenseSetOperation
    DenseToSparseSetOperation DepthToSpace DepthwiseConv2dNative
    DepthwiseConv2dNativeBackpropFilter DepthwiseConv2dNativeBackpropInput Dequantize
    DeserializeManySparse DeserializeSparse DestroyResourceOp DestroyTemporaryVariable
    DeviceIndex Diag DiagPart Digamma Dilation2D Dilation2DBackpropFilter
    Dilation2DBackpropInput DisableCopyOnRead Div DivNoNan DrawBoundingBoxes DrawBoundingBoxesV2
    DynamicPartition DynamicStitch EditDistance Eig Einsum Elu EluGrad Empty EmptyTensorList
    EmptyTensorMap EncodeBase64 EncodeJpeg EncodeJpegVariableQuality EncodePng EncodeWav
    EnsureShape Enter Equal Erf Erfc Erfinv EuclideanNorm Exit Exp ExpandDims Expint Expm1
    ExtractGlimpse ExtractGlimpseV2 ExtractImagePatches ExtractJpegShape ExtractVolumePatches
    FFT FFT2D FFT3D FFTND Fact FakeQuantWithMinMaxArgs FakeQuantWithMinMaxArgsGradient
    FakeQuantWithMinMaxVars FakeQuantWithMinMaxVarsGradient FakeQuantWithMinMaxVarsPerChannel
    FakeQuantWithMinMaxVarsPerChannelGradient Fill Fingerprint Floor FloorDiv FloorMod For
    FractionalAvgPool FractionalAvgPoolGrad FractionalMaxPool FractionalMaxPoolGrad FresnelCos
    FresnelSin FusedBatchNorm FusedBatchNormGrad FusedBatchNormGradV2 FusedBatchNormGradV3
    FusedBatchNormV2 FusedBatchNormV3 FusedPadConv2D FusedResizeAndPadConv2D GRUBlockCell
    GRUBlockCellGrad Gather GatherNd GatherV2 GenerateBoundingBoxProposals Greater GreaterEqual
    GuaranteeConst HSVToRGB HashTable HashTableV2 HistogramFixedWidth HistogramSummary HostConst
    IFFT IFFT2D IFFT3D IFFTND IRFFT IRFFT2D IRFFT3D IRFFTND Identity IdentityN If Igamma
    IgammaGradA Igammac Imag ImageProjectiveTransformV2 ImageProjectiveTransformV3 ImageSummary
    InTopK InTopKV2 InitializeTable InitializeTableV2 InplaceAdd InplaceSub InplaceUpdate Inv
    InvGrad Invert InvertPermutation IsBoostedTreesEnsembleInitialized
    IsBoostedTreesQuantileStreamResourceInitialized IsFinite IsInf IsNan IsTensorFloat32Enabled
    IsVariableInitialized IsotonicRegression KMC2ChainInitialization
    KmeansPlusPlusInitialization KthOrderStatistic L2Loss LRN LRNGrad LSTMBlockCell
    LSTMBlockCellGrad LeakyRelu LeakyReluGrad LearnedUnigramCandidateSampler LeftShift Less
    LessEqual Lgamma LinSpace ListDiff Log Log1p LogMatrixDeterminant LogSoftmax
    LogUniformCandidateSampler LogicalAnd LogicalNot LogicalOr LookupTableExport
    LookupTableExportV2 LookupTableFind LookupTableFindV2 LookupTableImport LookupTableImportV2
    LookupTableInsert LookupTableInsertV2 LookupTableRemoveV2 LookupTableSize LookupTableSizeV2
    LoopCond LowerBound Lu MakeUnique MatMul MatrixBandPart MatrixDeterminant MatrixDiag
    MatrixDiagPart MatrixDiagPartV2 MatrixDiagPartV3 MatrixDiagV2 MatrixDiagV3 MatrixExponential
    MatrixInverse MatrixLogarithm MatrixSetDiag MatrixSetDiagV2 MatrixSetDiagV3 MatrixSolve
    MatrixSolveLs MatrixSquareRoot MatrixTriangularSolve Max MaxPool MaxPool3D MaxPool3DGrad
    MaxPool3DGradGrad MaxPoolGrad MaxPoolGradGrad MaxPoolGradGradV2 MaxPoolGradGradWithArgmax
    MaxPoolGradV2 MaxPoolGradWithArgmax MaxPoolV2 MaxPoolWithArgmax Maximum Mean Merge
    MergeSummary Mfcc Min Minimum MirrorPad MirrorPadGrad Mod Mul MulNoNan Multinomial
    MutableDenseHashTable MutableDenseHashTableV2 MutableHashTable MutableHashTableOfTensors
    MutableHashTableOfTensorsV2 MutableHashTableV2 Ndtri NearestNeighbors Neg NegTrain NextAfter
    NextIteration NoOp NonDeterministicInts NonMaxSuppression NonMaxSuppressionV2
    NonMaxSuppressionV3 NonMaxSuppressionV4 NonMaxSuppressionV5 NonMaxSuppressionWithOverlaps
    NotEqual NthElement OneHot OnesLike OptionalFromValue OptionalGetValue OptionalHasValue
    OptionalNone Pack Pad PadV2 ParallelConcat ParallelDynamicStitch
    ParameterizedTruncatedNormal ParseExample ParseExampleV2 ParseSequenceExample
    ParseSequenceExampleV2 ParseSingleExample ParseSingleSequenceExample ParseTensor
    PartitionedCall Placeholder PlaceholderV2 PlaceholderWithDefault Polygamma PopulationCount
    Pow PreventGradient Print PrintV2 Prod Qr QuantizeAndDequantize QuantizeAndDequantizeV2
    QuantizeAndDequantizeV3 QuantizeAndDequantizeV4 QuantizeAndDequantizeV4Grad
    QuantizeDownAndShrinkRange QuantizeV2 QuantizedAdd QuantizedAvgPool
    QuantizedBatchNormWithGlobalNormalization QuantizedBiasAdd QuantizedConcat QuantizedConcatV2
    QuantizedConv2D QuantizedConv2DAndRelu QuantizedConv2DAndReluAndRequantize
    QuantizedConv2DAndRequantize QuantizedConv2DPerChannel QuantizedConv2DWithBias
    QuantizedConv2DWithBiasAndRelu QuantizedConv2DWithBiasAndReluAndRequantize
    QuantizedConv2DWithBiasAndRequantize QuantizedConv2DWithBiasSignedSumAndReluAndRequantize
    QuantizedConv2DWithBiasSumAndRelu QuantizedConv2DWithBiasSumAndReluAndRequantize
    QuantizedDepthwiseConv2D QuantizedDepthwiseConv2DWithBias
    QuantizedDepthwiseConv2DWithBiasAndRelu QuantizedDepthwiseConv2DWithBiasAndReluAndRequantize
    QuantizedInstanceNorm QuantizedMatMul QuantizedMatMulWithBias
    QuantizedMatMulWithBiasAndDequantize QuantizedMatMulWithBiasAndRelu
    QuantizedMatMulWithBiasAndReluAndRequantize QuantizedMatMulWithBiasAndRequantize
    QuantizedMaxPool QuantizedMul QuantizedRelu QuantizedRelu6 QuantizedReluX QuantizedReshape
    QuantizedResizeBilinear RFFT RFFT2D RFFT3D RFFTND RGBToHSV RaggedBincount
    RaggedCountSparseOutput RaggedCross RaggedFillEmptyRows RaggedFillEmptyRowsGrad RaggedGather
    RaggedRange RaggedTensorFromVariant RaggedTensorToSparse RaggedTensorToTensor
    RaggedTensorToVariant RaggedTensorToVariantGradient RandomCrop RandomGamma RandomGammaGrad
    RandomIndexShuffle RandomPoisson RandomPoissonV2 RandomShuffle RandomStandardNormal
    RandomUniform RandomUniformInt Range Rank ReadVariableOp Real RealDiv Reciprocal
    ReciprocalGrad ReduceJoin RefEnter RefExit RefIdentity RefMerge RefNextIteration RefSelect
    RefSwitch RegexFullMatch RegexReplace Relu Relu6 Relu6Grad ReluGrad RequantizationRange
    RequantizationRangePerChannel Requantize RequantizePerChannel Reshape ResizeArea
    ResizeBicubic ResizeBicubicGrad ResizeBilinear ResizeBilinearGrad ResizeNearestNeighbor
    ResizeNearestNeighborGrad ResourceApplyAdaMax ResourceApplyAdadelta ResourceApplyAdagrad
    ResourceApplyAdagradDA ResourceApplyAdagradV2 ResourceApplyAdam ResourceApplyAdamWithAmsgrad
    ResourceApplyAddSign ResourceApplyCenteredRMSProp ResourceApplyFtrl ResourceApplyFtrlV2
    ResourceApplyGradientDescent ResourceApplyKerasMomentum ResourceApplyMomentum
    ResourceApplyPowerSign ResourceApplyProximalAdagrad ResourceApplyProximalGradientDescent
    ResourceApplyRMSProp ResourceCountUpTo ResourceGather ResourceGatherNd ResourceScatterAdd
    ResourceScatterDiv ResourceScatterMax ResourceScatterMin ResourceScatterMul
    ResourceScatterNdAdd ResourceScatterNdMax ResourceScatterNdMin ResourceScatterNdSub
    ResourceScatterNdUpdate ResourceScatterSub ResourceScatterUpdate ResourceSparseApplyAdadelta
    ResourceSparseApplyAdagrad ResourceSparseApplyAdagradDA ResourceSparseApplyAdagradV2
    ResourceSparseApplyCenteredRMSProp ResourceSparseApplyFtrl ResourceSparseApplyFtrlV2
    ResourceSparseApplyKerasMomentum ResourceSparseApplyMomentum
    ResourceSparseApplyProximalAdagrad ResourceSparseApplyProximalGradientDescent
    ResourceSparseApplyRMSProp ResourceStridedSliceAssign Reverse ReverseSequence ReverseV2
    RightShift Rint RngReadAndSkip RngSkip Roll Round Rsqrt RsqrtGrad SampleDistortedBoundingBox
    SampleDistortedBoundingBoxV2 ScalarSummary ScaleAndTranslate ScaleAndTranslateGrad
    ScatterAdd ScatterDiv ScatterMax ScatterMin ScatterMul ScatterNd ScatterNdAdd ScatterNdMax
    ScatterNdMin ScatterNdNonAliasingAdd ScatterNdSub ScatterNdUpdate ScatterSub ScatterUpdate
    SdcaFprint SdcaOptimizer SdcaOptimizerV2 SdcaShrinkL1 SegmentMax SegmentMaxV2 SegmentMean
    SegmentMin SegmentMinV2 SegmentProd SegmentProdV2 SegmentSum SegmentSumV2 Select SelectV2
    SelfAdjointEig SelfAdjointEigV2 Selu SeluGrad SerializeManySparse SerializeSparse
    SerializeTensor SetSize Shape ShapeN ShardedFilename ShardedFilespec Sigmoid SigmoidGrad
    Sign Sin Sinh Size Slice Snapshot SobolSample Softmax SoftmaxCrossEntropyWithLogits Softplus
    SoftplusGrad Softsign SoftsignGrad SpaceToBatch SpaceToBatchND SpaceToDepth SparseAdd
    SparseAddGrad SparseApplyAdadelta SparseApplyAdagrad SparseApplyAdagradDA
    SparseApplyAdagradV2 SparseApplyCenteredRMSProp SparseApplyFtrl SparseApplyFtrlV2
    SparseApplyMomentum SparseApplyProximalAdagrad SparseApplyProximalGradientDescent
    SparseApplyRMSProp SparseBincount SparseConcat SparseCountSparseOutput SparseCross
    SparseCrossHashed SparseCrossV2 SparseDenseCwiseAdd SparseDenseCwiseDiv SparseDenseCwiseMul
    SparseFillEmptyRows SparseFillEmptyRowsGrad SparseMatMul SparseMatrixAdd SparseMatrixMatMul
    SparseMatrixMul SparseMatrixNNZ SparseMatrixOrderingAMD SparseMatrixSoftmax
    SparseMatrixSoftmaxGrad SparseMatrixSparseCholesky SparseMatrixSparseMatMul
    SparseMatrixTranspose SparseMatrixZeros SparseReduceMax SparseReduceMaxSparse
    SparseReduceSum SparseReduceSumSparse SparseReorder SparseReshape SparseSegmentMean
    SparseSegmentMeanGrad SparseSegmentMeanGradV2 SparseSegmentMeanWithNumSegments
    SparseSegmentSqrtN SparseSegmentSqrtNGrad SparseSegmentSqrtNGradV2
    SparseSegmentSqrtNWithNumSegments SparseSegmentSum SparseSegmentSumGrad
    SparseSegmentSumGradV2 SparseSegmentSumWithNumSegments SparseSlice SparseSliceGrad
    SparseSoftmax SparseSoftmaxCrossEntropyWithLogits SparseSparseMaximum SparseSparseMinimum
    SparseSplit SparseTensorDenseAdd SparseTensorDenseMatMul SparseTensorToCSRSparseMatrix
    SparseToDense SparseToSparseSetOperation Spence Split SplitV Sqrt SqrtGrad Square
    SquaredDifference Squeeze Stack StackClose StackCloseV2 StackPop StackPopV2 StackPush
    StackPushV2 StackV2 StatefulPartitionedCall StatefulRandomBinomial StatefulStandardNormal
    StatefulStandardNormalV2 StatefulTruncatedNormal StatefulUniform StatefulUniformFullInt
    StatefulUniformInt StatelessCase StatelessIf StatelessMultinomial
    StatelessParameterizedTruncatedNormal StatelessRandomBinomial StatelessRandomGammaV2
    StatelessRandomGammaV3 StatelessRandomGetAlg StatelessRandomGetKeyCounter
    StatelessRandomGetKeyCounterAlg StatelessRandomNormal StatelessRandomNormalV2
    StatelessRandomPoisson StatelessRandomUniform StatelessRandomUniformFullInt
    StatelessRandomUniformFullIntV2 StatelessRandomUniformInt StatelessRandomUniformIntV2
    StatelessRandomUniformV2 StatelessSampleDistortedBoundingBox StatelessShuffle
    StatelessTruncatedNormal StatelessTruncatedNormalV2 StatelessWhile StaticRegexFullMatch
    StaticRegexReplace StochasticCastToInt StopGradient StridedSlice StridedSliceAssign
    StridedSliceGrad StringFormat StringJoin StringLength StringLower StringNGrams StringSplit
    StringSplitV2 StringStrip StringToHashBucket StringToHashBucketFast StringToHashBucketStrong
    StringToNumber StringUpper Sub Substr Sum Svd Switch SyncDevice TakeManySparseFromTensorsMap
    Tan Tanh TanhGrad TemporaryVariable TensorArray TensorArrayClose TensorArrayCloseV2
    TensorArrayCloseV3 TensorArrayConcat TensorArrayConcatV2 TensorArrayConcatV3
    TensorArrayGather TensorArrayGatherV2 TensorArrayGatherV3 TensorArrayGrad TensorArrayGradV2
    TensorArrayGradV3 TensorArrayGradWithShape TensorArrayPack TensorArrayRead TensorArrayReadV2
    TensorArrayReadV3 TensorArrayScatter TensorArrayScatterV2 TensorArrayScatterV3
    TensorArraySize TensorArraySizeV2 TensorArraySizeV3 TensorArraySplit TensorArraySplitV2
    TensorArraySplitV3 TensorArrayUnpack TensorArrayV2 TensorArrayV3 TensorArrayWrite
    TensorArrayWriteV2 TensorArrayWriteV3 TensorListConcat TensorListConcatLists
    TensorListConcatV2 TensorListElementShape TensorListFromTensor TensorListGather
    TensorListGetItem TensorListLength TensorListPopBack TensorListPushBack
    TensorListPushBackBatch TensorListReserve TensorListResize TensorListScatter
    TensorListScatterIntoExistingList TensorListScatterV2 TensorListSetItem TensorListSplit
    TensorListStack TensorMapErase TensorMapHasKey TensorMapInsert TensorMapLookup TensorMapSize
    TensorMapStackKeys TensorScatterAdd TensorScatterMax TensorScatterMin TensorScatterSub
    TensorScatterUpdate TensorStridedSliceUpdate TensorSummary TensorSummaryV2
    ThreadUnsafeUnigramCandidateSampler Tile TileGrad Timestamp ToBool TopK TopKUnique TopKV2
    TopKWithUnique Transpose TridiagonalMatMul TridiagonalSolve TruncateDiv TruncateMod
    TruncatedNormal UnicodeDecode UnicodeDecodeWithOffsets UnicodeEncode UnicodeScript
    UnicodeTranscode UniformCandidateSampler UniformDequantize UniformQuantize
    UniformQuantizedAdd UniformQuantizedClipByValue UniformQuantizedConvolution
    UniformQuantizedConvolutionHybrid UniformQuantizedDot UniformQuantizedDotHybrid
    UniformRequantize Unique UniqueV2 UniqueWithCounts UniqueWithCountsV2 Unpack UnravelIndex
    UnsortedSegmentJoin UnsortedSegmentMax UnsortedSegmentMin UnsortedSegmentProd
    UnsortedSegmentSum UpperBound VarHandleOp VarIsInitializedOp Variable VariableShape
    VariableV2 Where While Xdivy Xlog1py Xlogy ZerosLike Zeta
    """.split()
)

FILES = _category(
    "reads or writes files",
    """
    CreateSummaryFileWriter FileSystemSetConfiguration FixedLengthRecordReader
    FixedLengthRecordReaderV2 FixedUnigramCandidateSampler GenerateVocabRemapping IdentityReader
    IdentityReaderV2 ImmutableConst InitializeTableFromTextFile InitializeTableFromTextFileV2
    LMDBReader LoadAndRemapMatrix MatchingFiles ReadFile ReaderNumRecordsProduced
    ReaderNumRecordsProducedV2 ReaderNumWorkUnitsCompleted ReaderNumWorkUnitsCompletedV2
    ReaderRead ReaderReadUpTo ReaderReadUpToV2 ReaderReadV2 ReaderReset ReaderResetV2
    ReaderRestoreState ReaderRestoreStateV2 ReaderSerializeState ReaderSerializeStateV2
    RecordInput Skipgram TFRecordReader TFRecordReaderV2 TextLineReader TextLineReaderV2
    WholeFileReader WholeFileReaderV2 WriteFile
    """,
)

CHECKPOINT_IO = _category(
    "reads or writes checkpoint files",
    """
    DTensorRestoreV2 MergeV2Checkpoints Restore RestoreSlice RestoreV2 Save SaveSlices SaveV2
    """,
)

DATASETS = _category(
    "tf.data: input pipelines read files and run functions of their own",
    """
    AnonymousIterator AnonymousIteratorV2 AnonymousIteratorV3 AnonymousMemoryCache
    AnonymousMultiDeviceIterator AnonymousMultiDeviceIteratorV3 AnonymousRandomSeedGenerator
    AnonymousSeedGenerator AssertCardinalityDataset AssertNextDataset AssertPrevDataset
    AutoShardDataset BatchDataset BatchDatasetV2 BytesProducedStatsDataset CSVDataset
    CSVDatasetV2 CacheDataset CacheDatasetV2 ChooseFastestBranchDataset ChooseFastestDataset
    CompressElement ComputeBatchSize ConcatenateDataset DataServiceDataset DataServiceDatasetV2
    DataServiceDatasetV3 DataServiceDatasetV4 DatasetCardinality DatasetFingerprint
    DatasetToSingleElement DatasetToTFRecord DeleteIterator DeleteMemoryCache
    DeleteMultiDeviceIterator DeleteRandomSeedGenerator DeleteSeedGenerator
    DenseToSparseBatchDataset DeserializeIterator DirectedInterleaveDataset
    DummyIterationCounter DummyMemoryCache DummySeedGenerator ExperimentalAssertNextDataset
    ExperimentalAutoShardDataset ExperimentalBytesProducedStatsDataset ExperimentalCSVDataset
    ExperimentalChooseFastestDataset ExperimentalDatasetCardinality
    ExperimentalDatasetToTFRecord ExperimentalDenseToSparseBatchDataset
    ExperimentalDirectedInterleaveDataset ExperimentalGroupByReducerDataset
    ExperimentalGroupByWindowDataset ExperimentalIgnoreErrorsDataset
    ExperimentalIteratorGetDevice ExperimentalLMDBDataset ExperimentalLatencyStatsDataset
    ExperimentalMapAndBatchDataset ExperimentalMapDataset ExperimentalMatchingFilesDataset
    ExperimentalMaxIntraOpParallelismDataset ExperimentalNonSerializableDataset
    ExperimentalParallelInterleaveDataset ExperimentalParseExampleDataset
    ExperimentalPrivateThreadPoolDataset ExperimentalRandomDataset ExperimentalRebatchDataset
    ExperimentalScanDataset ExperimentalSetStatsAggregatorDataset ExperimentalSleepDataset
    ExperimentalSlidingWindowDataset ExperimentalSqlDataset ExperimentalStatsAggregatorHandle
    ExperimentalStatsAggregatorSummary ExperimentalTakeWhileDataset
    ExperimentalThreadPoolDataset ExperimentalThreadPoolHandle ExperimentalUnbatchDataset
    ExperimentalUniqueDataset FilterByLastComponentDataset FilterDataset FinalizeDataset
    FixedLengthRecordDataset FixedLengthRecordDatasetV2 FlatMapDataset GeneratorDataset
    GetElementAtIndex GetOptions GlobalIterId GlobalShuffleDataset GroupByReducerDataset
    GroupByWindowDataset IgnoreErrorsDataset IndexFlatMapDataset InitializeTableFromDataset
    InterleaveDataset Iterator IteratorFromStringHandle IteratorFromStringHandleV2
    IteratorGetDevice IteratorGetModelProto IteratorGetNext IteratorGetNextAsOptional
    IteratorGetNextSync IteratorToStringHandle IteratorV2 LMDBDataset LatencyStatsDataset
    LegacyParallelInterleaveDatasetV2 ListDataset ListSnapshotChunksDataset LoadDataset
    MakeIterator MapAndBatchDataset MapDataset MapDefun MatchingFilesDataset
    MaxIntraOpParallelismDataset ModelDataset MultiDeviceIterator
    MultiDeviceIteratorFromStringHandle MultiDeviceIteratorGetNextFromShard
    MultiDeviceIteratorInit MultiDeviceIteratorToStringHandle NonSerializableDataset
    OneShotIterator OptimizeDataset OptimizeDatasetV2 OptionsDataset PaddedBatchDataset
    PaddedBatchDatasetV2 ParallelBatchDataset ParallelFilterDataset ParallelInterleaveDataset
    ParallelInterleaveDatasetV2 ParallelInterleaveDatasetV3 ParallelInterleaveDatasetV4
    ParallelMapDataset ParallelMapDatasetV2 ParseExampleDataset ParseExampleDatasetV2
    PrefetchDataset PrivateThreadPoolDataset RandomDataset RandomDatasetV2 RangeDataset
    RebatchDataset RebatchDatasetV2 ReduceDataset RegisterDataset RegisterDatasetV2
    RepeatDataset RewriteDataset SamplingDataset SaveDataset SaveDatasetV2 ScanDataset
    SerializeIterator SetStatsAggregatorDataset ShardDataset ShuffleAndRepeatDataset
    ShuffleAndRepeatDatasetV2 ShuffleDataset ShuffleDatasetV2 ShuffleDatasetV3 SkipDataset
    SleepDataset SlidingWindowDataset SnapshotChunkDataset SnapshotDataset SnapshotDatasetReader
    SnapshotDatasetV2 SnapshotNestedDatasetReader SparseTensorSliceDataset SqlDataset
    StatsAggregatorHandle StatsAggregatorHandleV2 StatsAggregatorSetSummaryWriter
    StatsAggregatorSummary TFRecordDataset TFRecordDatasetV2 TakeDataset TakeWhileDataset
    TensorDataset TensorSliceDataset TextLineDataset ThreadPoolDataset ThreadPoolHandle
    UnbatchDataset UncompressElement UniqueDataset UnwrapDatasetVariant WeightedFlatMapDataset
    WindowDataset WindowOp WrapDatasetVariant ZipDataset
    """,
)

SUMMARY_WRITERS = _category(
    "writes event files or a summary database",
    """
    CloseSummaryWriter CreateSummaryDbWriter FlushSummaryWriter ImportEvent SummaryWriter
    WriteAudioSummary WriteGraphSummary WriteHistogramSummary WriteImageSummary
    WriteRawProtoSummary WriteScalarSummary WriteSummary
    """,
)

DEBUG = _category(
    "debug op: dumps tensors to files or debug URLs",
    """
    CalibrationStatisticsSaver Copy CopyHost CustomAggregator DebugGradientIdentity
    DebugGradientRefIdentity DebugIdentity DebugIdentityV2 DebugIdentityV3 DebugNanCount
    DebugNumericSummary DebugNumericSummaryV2 DumpTensor
    """,
)

PYTHON = _category(
    "runs Python code",
    """
    EagerPyFunc PyFunc PyFuncStateless
    """,
)

NETWORK = _category(
    "talks to another process or the network (send/recv, collectives, RPC)",
    """
    AllToAll CollectiveAllToAllV2 CollectiveAllToAllV3 CollectiveAssignGroupV2
    CollectiveBcastRecv CollectiveBcastRecvV2 CollectiveBcastSend CollectiveBcastSendV2
    CollectiveGather CollectiveGatherV2 CollectiveInitializeCommunicator CollectivePermute
    CollectiveReduce CollectiveReduceScatterV2 CollectiveReduceV2 CollectiveReduceV3
    ConfigureDistributedTPU CopyToMesh CopyToMeshGrad CrossReplicaSum DTensorAllGather
    DTensorAllReduce DTensorAllScatter DTensorAllToAll DTensorReduceScatter
    DTensorSetGlobalTPUArray DeleteRpcFutureResource DistributedSave NcclAllReduce NcclBroadcast
    NcclReduce Recv RecvTPUEmbeddingActivations RemoteCall RpcCall RpcCheckStatus RpcClient
    RpcGetValue RpcServer RpcServerRegister RpcServerStart Send SendTPUEmbeddingGradients
    ShutdownDistributedTPU WorkerHeartbeat XlaRecv XlaRecvFromHost
    XlaRecvTPUEmbeddingActivations XlaRecvTPUEmbeddingActivationsV2
    XlaRecvTPUEmbeddingDeduplicationData XlaRecvTPUEmbeddingDeduplicationDataV2 XlaSend
    XlaSendTPUEmbeddingGradients XlaSendTPUEmbeddingGradientsV2 XlaSendToHost
    """,
)

PROCESS = _category(
    "process control (aborts, sleeps or changes the filesystem configuration)",
    """
    Abort GetDeadline SleepIdentityOp SleepOp
    """,
)

BLOCKING = _category(
    "may block forever (queues, barriers, staging areas, accumulators, mutexes)",
    """
    AccumulatorApplyGradient AccumulatorNumAccumulated AccumulatorSetGlobalStep
    AccumulatorTakeGradient Barrier BarrierClose BarrierIncompleteSize BarrierInsertMany
    BarrierReadySize BarrierTakeMany Batch ConditionalAccumulator ConsumeMutexLock FIFOQueue
    FIFOQueueV2 FakeQueue MapClear MapIncompleteSize MapPeek MapSize MapStage MapUnstage
    MapUnstageNoKey MutexLock MutexV2 OrderedMapClear OrderedMapIncompleteSize OrderedMapPeek
    OrderedMapSize OrderedMapStage OrderedMapUnstage OrderedMapUnstageNoKey PaddingFIFOQueue
    PaddingFIFOQueueV2 PriorityQueue PriorityQueueV2 QueueClose QueueCloseV2 QueueDequeue
    QueueDequeueMany QueueDequeueManyV2 QueueDequeueUpTo QueueDequeueUpToV2 QueueDequeueV2
    QueueEnqueue QueueEnqueueMany QueueEnqueueManyV2 QueueEnqueueV2 QueueIsClosed
    QueueIsClosedV2 QueueSize QueueSizeV2 RandomShuffleQueue RandomShuffleQueueV2
    ResourceAccumulatorApplyGradient ResourceAccumulatorNumAccumulated
    ResourceAccumulatorSetGlobalStep ResourceAccumulatorTakeGradient
    ResourceConditionalAccumulator SparseAccumulatorApplyGradient SparseAccumulatorTakeGradient
    SparseConditionalAccumulator Stage StageClear StagePeek StageSize Unbatch UnbatchGrad
    Unstage
    """,
)

SESSION_STATE = _category(
    "reads or keeps tensors across session runs",
    """
    DeleteSessionTensor GetSessionHandle GetSessionHandleV2 GetSessionTensor
    """,
)

PROTO_DESCRIPTORS = _category(
    "parses protobufs with descriptors that may come from files",
    """
    DecodeProtoV2 EncodeProto
    """,
)

SERIALIZED_PROGRAMS = _category(
    "runs a serialized graph, function or program carried in its inputs or attributes",
    """
    BatchFunction DatasetFromGraph DatasetToGraph DatasetToGraphV2 MlirPassthroughOp TPUCompile
    XlaCallModule XlaHostCompute XlaLaunch XlaLaunchV2 _TPUCompileMlir _XlaCompile
    _XlaHostComputeMlir _XlaRun
    """,
)

DEVICES = _category(
    "TPU, XLA or DTensor device op",
    """
    AssignVariableXlaConcatND CollateTPUEmbeddingMemory ComputeDedupDataSize
    ComputeDedupDataSizeV2 ComputeDedupDataTupleMask ComputeDedupDataTupleMaskV2
    ConfigureAndInitializeGlobalTPU ConfigureTPUEmbedding ConfigureTPUEmbeddingHost
    ConfigureTPUEmbeddingMemory ConnectTPUEmbeddingHosts ConvertToCooTensor
    ConvertToListOfSparseCoreCooTensors ConvertToSparseCoreCsrWrappedCooTensor
    DynamicEnqueueTPUEmbeddingArbitraryTensorBatch DynamicEnqueueTPUEmbeddingRaggedTensorBatch
    EnqueueTPUEmbeddingArbitraryTensorBatch EnqueueTPUEmbeddingBatch
    EnqueueTPUEmbeddingIntegerBatch EnqueueTPUEmbeddingRaggedTensorBatch
    EnqueueTPUEmbeddingSparseBatch EnqueueTPUEmbeddingSparseTensorBatch
    ExecuteTPUEmbeddingPartitioner FinalizeTPUEmbedding FinalizeTPUEmbeddingV2
    GetMinibatchSplitsWithPhysicalReplica GetMinibatchesInCsrWithPhysicalReplica
    GetStatsFromListOfSparseCoreCooTensors GetTpuTaskId InfeedDequeue InfeedDequeueTuple
    InfeedEnqueue InfeedEnqueuePrelinearizedBuffer InfeedEnqueueTuple IsTPUEmbeddingInitialized
    LoadAllTPUEmbeddingParameters LoadTPUEmbeddingADAMParameters
    LoadTPUEmbeddingAdadeltaParameters LoadTPUEmbeddingAdagradMomentumParameters
    LoadTPUEmbeddingAdagradParameters LoadTPUEmbeddingCenteredRMSPropParameters
    LoadTPUEmbeddingFTRLParameters LoadTPUEmbeddingFrequencyEstimatorParameters
    LoadTPUEmbeddingMDLAdagradLightParameters LoadTPUEmbeddingMomentumParameters
    LoadTPUEmbeddingProximalAdagradParameters LoadTPUEmbeddingProximalYogiParameters
    LoadTPUEmbeddingRMSPropParameters LoadTPUEmbeddingStochasticGradientDescentParameters
    MergeDedupData OutfeedDequeue OutfeedDequeueTuple OutfeedDequeueTupleV2 OutfeedDequeueV2
    OutfeedEnqueue OutfeedEnqueueTuple Prelinearize PrelinearizeTuple ReadVariableXlaSplitND
    Relayout RelayoutLike RetrieveAllTPUEmbeddingParameters RetrieveTPUEmbeddingADAMParameters
    RetrieveTPUEmbeddingAdadeltaParameters RetrieveTPUEmbeddingAdagradMomentumParameters
    RetrieveTPUEmbeddingAdagradParameters RetrieveTPUEmbeddingCenteredRMSPropParameters
    RetrieveTPUEmbeddingFTRLParameters RetrieveTPUEmbeddingFrequencyEstimatorParameters
    RetrieveTPUEmbeddingMDLAdagradLightParameters RetrieveTPUEmbeddingMomentumParameters
    RetrieveTPUEmbeddingProximalAdagradParameters RetrieveTPUEmbeddingProximalYogiParameters
    RetrieveTPUEmbeddingRMSPropParameters
    RetrieveTPUEmbeddingStochasticGradientDescentParameters ShutdownTPUSystem
    SortListOfSparseCoreCooTensors SplitDedupData StoreMinibatchStatisticsInFdo
    TPUAnnotateTensorsWithDynamicShape TPUCompilationResult TPUCompileSucceededAssert
    TPUCopyWithDynamicShape TPUDummyInput TPUEmbeddingActivations TPUExecute
    TPUExecuteAndUpdateVariables TPUOrdinalSelector TPUPartitionedCall TPUPartitionedInput
    TPUPartitionedInputV2 TPUPartitionedOutput TPUPartitionedOutputV2 TPUReplicateMetadata
    TPUReplicatedInput TPUReplicatedOutput TPUReshardVariables TPURoundRobin TpuHandleToProtoKey
    UpdateTaskIdAndGlobalCoreArray XlaAllReduce XlaBroadcastHelper XlaClusterOutput XlaConcatND
    XlaConv XlaConvV2 XlaCustomCall XlaCustomCallV2 XlaDequantize XlaDot XlaDotV2
    XlaDynamicSlice XlaDynamicUpdateSlice XlaEinsum XlaGather XlaIf XlaKeyValueSort
    XlaOptimizationBarrier XlaPad XlaReduce XlaReducePrecision XlaReduceScatter XlaReduceWindow
    XlaRemoveDynamicDimensionSize XlaReplicaId XlaRngBitGenerator XlaScatter XlaSelectAndScatter
    XlaSelfAdjointEig XlaSetBound XlaSetDynamicDimensionSize XlaSharding XlaSort
    XlaSparseActivationsUnstack XlaSparseCoreAdagrad XlaSparseCoreAdagradMomentum
    XlaSparseCoreAdam XlaSparseCoreFtrl XlaSparseCoreSgd XlaSparseDenseMatmul
    XlaSparseDenseMatmulCustomCombinerOnTcGradWithAdagradAndCsrInput
    XlaSparseDenseMatmulCustomCombinerOnTcGradWithAdagradMomentumAndCsrInput
    XlaSparseDenseMatmulCustomCombinerOnTcGradWithAdamAndCsrInput
    XlaSparseDenseMatmulCustomCombinerOnTcGradWithCsrInput
    XlaSparseDenseMatmulCustomCombinerOnTcGradWithFtrlAndCsrInput
    XlaSparseDenseMatmulCustomCombinerOnTcGradWithSgdAndCsrInput
    XlaSparseDenseMatmulCustomCombinerOnTcWithCsrInput
    XlaSparseDenseMatmulGradWithAdagradAndCsrInput
    XlaSparseDenseMatmulGradWithAdagradAndStaticBufferSize
    XlaSparseDenseMatmulGradWithAdagradMomentumAndCsrInput
    XlaSparseDenseMatmulGradWithAdagradMomentumAndStaticBufferSize
    XlaSparseDenseMatmulGradWithAdamAndCsrInput
    XlaSparseDenseMatmulGradWithAdamAndStaticBufferSize XlaSparseDenseMatmulGradWithCsrInput
    XlaSparseDenseMatmulGradWithFtrlAndCsrInput
    XlaSparseDenseMatmulGradWithFtrlAndStaticBufferSize
    XlaSparseDenseMatmulGradWithSgdAndCsrInput
    XlaSparseDenseMatmulGradWithSgdAndStaticBufferSize XlaSparseDenseMatmulWithCsrInput
    XlaSparseDenseMatmulWithStaticBufferSize XlaSparseGradientsStack XlaSplitND
    XlaSpmdFullToShardShape XlaSpmdShardToFullShape XlaSvd XlaVariadicReduce XlaVariadicReduceV2
    XlaVariadicSort XlaWhile
    """,
)

INTERNAL = _category(
    "internal op (placed by TensorFlow's runtime, never written by a model)",
    """
    CheckPinned FakeParam _Arg _ArrayToList _ConfigureDistributedTPU _CopyFromGpuToHost
    _CopyFromHostToGpu _DeviceArg _DeviceRetval _DisconnectHostFromDistributedTPUSystem
    _EagerConst _FusedBatchNormEx _FusedBatchNormGradEx _FusedConv2D _FusedConv3D
    _FusedDepthwiseConv2dNative _FusedMatMul _FusedQuantizedConv2D
    _FusedQuantizedDepthwiseConv2D _HostCast _HostRecv _HostSend _If
    _InitializeHostForDistributedTPU _ListToArray _MklAvgPool _MklAvgPool3D _MklAvgPool3DGrad
    _MklAvgPoolGrad _MklBatchMatMul _MklBatchMatMulV2 _MklConcat _MklConcatV2
    _MklConjugateTranspose _MklConv2D _MklConv2DBackpropFilter _MklConv2DBackpropFilterWithBias
    _MklConv2DBackpropInput _MklConv2DWithBias _MklConv3D _MklConv3DBackpropFilterV2
    _MklConv3DBackpropInputV2 _MklDepthwiseConv2dNative _MklDepthwiseConv2dNativeBackpropFilter
    _MklDepthwiseConv2dNativeBackpropInput _MklDequantize _MklEinsum _MklElu _MklEluGrad
    _MklFusedBatchMatMulV2 _MklFusedBatchNorm _MklFusedBatchNormEx _MklFusedBatchNormGrad
    _MklFusedBatchNormGradV2 _MklFusedBatchNormGradV3 _MklFusedBatchNormV2 _MklFusedBatchNormV3
    _MklFusedConv2D _MklFusedDepthwiseConv2dNative _MklFusedInstanceNorm _MklFusedMatMul
    _MklFusedMish _MklLayerNorm _MklLeakyRelu _MklLeakyReluGrad _MklMatMul _MklMaxPool
    _MklMaxPool3D _MklMaxPool3DGrad _MklMaxPoolGrad _MklNativeAvgPool _MklNativeAvgPool3D
    _MklNativeAvgPool3DGrad _MklNativeAvgPoolGrad _MklNativeConv2D
    _MklNativeConv2DBackpropFilter _MklNativeConv2DBackpropFilterWithBias
    _MklNativeConv2DBackpropInput _MklNativeConv2DWithBias _MklNativeConv3D
    _MklNativeConv3DBackpropFilterV2 _MklNativeConv3DBackpropInputV2
    _MklNativeDepthwiseConv2dNative _MklNativeDepthwiseConv2dNativeBackpropFilter
    _MklNativeDepthwiseConv2dNativeBackpropInput _MklNativeFusedBatchNorm
    _MklNativeFusedBatchNormEx _MklNativeFusedBatchNormGrad _MklNativeFusedBatchNormGradV2
    _MklNativeFusedBatchNormGradV3 _MklNativeFusedBatchNormV2 _MklNativeFusedBatchNormV3
    _MklNativeFusedConv2D _MklNativeFusedConv3D _MklNativeFusedDepthwiseConv2dNative
    _MklNativeFusedMatMul _MklNativeMaxPool _MklNativeMaxPool3D _MklNativeMaxPool3DGrad
    _MklNativeMaxPoolGrad _MklNativePadWithConv2D _MklNativePadWithFusedConv2D
    _MklNativeSparseMatrixMatMul _MklPadWithConv2D _MklPadWithFusedConv2D _MklQuantizeV2
    _MklQuantizedAvgPool _MklQuantizedConcatV2 _MklQuantizedConv2D _MklQuantizedConv2DAndRelu
    _MklQuantizedConv2DAndReluAndRequantize _MklQuantizedConv2DAndRequantize
    _MklQuantizedConv2DPerChannel _MklQuantizedConv2DWithBias _MklQuantizedConv2DWithBiasAndRelu
    _MklQuantizedConv2DWithBiasAndReluAndRequantize _MklQuantizedConv2DWithBiasAndRequantize
    _MklQuantizedConv2DWithBiasSignedSumAndReluAndRequantize
    _MklQuantizedConv2DWithBiasSumAndRelu _MklQuantizedConv2DWithBiasSumAndReluAndRequantize
    _MklQuantizedDepthwiseConv2D _MklQuantizedDepthwiseConv2DWithBias
    _MklQuantizedDepthwiseConv2DWithBiasAndRelu
    _MklQuantizedDepthwiseConv2DWithBiasAndReluAndRequantize _MklQuantizedMatMulWithBias
    _MklQuantizedMatMulWithBiasAndDequantize _MklQuantizedMatMulWithBiasAndRelu
    _MklQuantizedMatMulWithBiasAndReluAndRequantize _MklQuantizedMatMulWithBiasAndRequantize
    _MklQuantizedMaxPool _MklRelu _MklRelu6 _MklRelu6Grad _MklReluGrad _MklSoftmax _MklSwish
    _MklTanh _MklTanhGrad _MklTranspose _NcclBroadcastRecv _NcclBroadcastSend _NcclReduceRecv
    _NcclReduceSend _ParallelConcatStart _ParallelConcatUpdate _QuantizedMatMul
    _QuantizedMaxPool3D _ReadVariablesOp _Recv _Retval _ScopedAllocator _ScopedAllocatorConcat
    _ScopedAllocatorSplit _Send _SetGlobalTPUArray _ShutdownDistributedTPU _SwitchN
    _TPUReplicate _TensorToHashBucketFast _UnaryOpsComposition _VarHandlesOp
    _WaitForDistributedTPU _While _XlaAotOnlyVarHandleOp _XlaCompileMlirPlaceholderProgramKey
    _XlaMerge _XlaRecvAtHost _XlaRecvAtHostV2 _XlaSendFromHost _XlaSendFromHostV2
    __MklDummyConv2DBackpropFilterWithBias __MklDummyConv2DWithBias __MklDummyPadWithConv2D
    __MklDummyPadWithFusedConv2D
    """,
)

EXPERIMENTAL = _category(
    "experimental op, not reviewed",
    """
    RiscAbs RiscAdd RiscBinaryArithmetic RiscBinaryComparison RiscBitcast RiscBroadcast RiscCast
    RiscCeil RiscCholesky RiscConcat RiscCondition RiscConv RiscCos RiscDiv RiscDot RiscExp
    RiscFft RiscFloor RiscGather RiscImag RiscIsFinite RiscLog RiscLogicalAnd RiscLogicalNot
    RiscLogicalOr RiscMax RiscMin RiscMul RiscNeg RiscPad RiscPool RiscPow RiscRandomUniform
    RiscReal RiscReduce RiscRem RiscReshape RiscReverse RiscScatter RiscShape RiscSign RiscSlice
    RiscSort RiscSqueeze RiscSub RiscTranspose RiscTriangularSolve RiscUnary RiscWhile
    SymbolicGradient
    """,
)

TEST_OPS = _category(
    "TensorFlow test op",
    """
    A Attr AttrBool AttrBoolList AttrDefault AttrEmptyListDefault AttrEnum AttrEnumList
    AttrFloat AttrListDefault AttrListMin AttrListTypeDefault AttrMin AttrPartialShape
    AttrPartialShapeList AttrShape AttrShapeList AttrTypeDefault B Binary ComplexStruct
    ConstructionFails CopyOp DefaultAttrs DevicePlacementOp DtypeWithDefaultOp FiveFloatOutputs
    FloatInput FloatOutput FloatOutputStringOutput Foo1 Foo2 Foo3 FuncAttr FuncListAttr
    GraphDefVersion InPolymorphicTwice Int64Output IntAttr IntInput IntInputFloatInput
    IntInputIntOutput IntOutput IntOutputFloatOutput IsResourceHandleRefCounting KernelLabel
    KernelLabelRequired ListInput ListOutput MakeWeakResourceHandle MixedStruct
    NInPolymorphicTwice NInTwice NInTwoTypeVariables NIntsIn NIntsOut NIntsOutDefault
    NPolymorphicIn NPolymorphicOut NPolymorphicOutDefault NPolymorphicRestrictIn
    NPolymorphicRestrictOut Namespace>TestStringOutput None Old OpWithDefaultAttr
    OpWithFutureDefaultAttr OutT OutTypeList OutTypeListRestrict Polymorphic
    PolymorphicDefaultOut PolymorphicOut RefIn RefInputFloatInput RefInputFloatInputIntOutput
    RefInputIntInput RefOut RefOutput RefOutputFloatOutput RequiresOlderGraphVersion
    ReservedAttr ReservedInput ResourceCreateOp ResourceInitializedOp ResourceUsingOp Restrict
    Simple SimpleStruct StringListAttr StubResourceHandleOp TestAttr TestStringOutput
    TwoFloatInputs TwoFloatInputsFloatOutput TwoFloatInputsIntOutput TwoFloatOutputs
    TwoIntInputs TwoIntOutputs TwoRefsIn TypeList TypeListRestrict TypeListTwice Unary
    """,
)

UNSAFE: Mapping[str, str] = {
    **FILES,
    **CHECKPOINT_IO,
    **DATASETS,
    **SUMMARY_WRITERS,
    **DEBUG,
    **PYTHON,
    **NETWORK,
    **PROCESS,
    **BLOCKING,
    **SESSION_STATE,
    **PROTO_DESCRIPTORS,
    **SERIALIZED_PROGRAMS,
    **DEVICES,
    **INTERNAL,
    **EXPERIMENTAL,
    **TEST_OPS,
}

# Allowed ops that run library functions: the attributes naming them (walked by walk.py).
CALL_OPS: Mapping[str, tuple[str, ...]] = {
    "If": ("then_branch", "else_branch"),
    "StatelessIf": ("then_branch", "else_branch"),
    "While": ("cond", "body"),
    "StatelessWhile": ("cond", "body"),
    "Case": ("branches",),
    "StatelessCase": ("branches",),
    "For": ("body",),
    "PartitionedCall": ("f",),
    "StatefulPartitionedCall": ("f",),
}

STD_STREAMS = frozenset(
    ["stdout", "stderr", "log(info)", "log(warning)", "log(error)", "log(fatal)"]
)
# Allowed ops that are safe only for some values of a string attribute: (attr, default,
# allowed values).
CONDITIONS: Mapping[str, tuple[str, str, frozenset[str]]] = {
    "PrintV2": ("output_stream", "stderr", STD_STREAMS),
}

RESTORE_OPS = frozenset(["Restore", "RestoreV2", "RestoreSlice"])
SAVE_OPS = frozenset(["Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints"])
# Ops that read one file, named by one input: (op type -> index of that input).
ASSET_READERS: Mapping[str, int] = {
    "InitializeTableFromTextFile": 1,
    "InitializeTableFromTextFileV2": 1,
    "ReadFile": 0,
}


def unsafe_reason(op_type: str, string_attr: Callable[[str], str | None]) -> str | None:
    """Why an op of ``op_type`` is unsafe, or None when it is allowed.

    Args:
        op_type: the node's op (not a library function name: callers walk those).
        string_attr: the node's string attribute of a name, or None when it has none.
    """
    if op_type in ALLOWED:
        condition = CONDITIONS.get(op_type)
        if condition is None:
            return None
        attr, default, values = condition
        value = string_attr(attr)
        value = default if value is None else value
        return None if value in values else f"{attr} is {value!r}, not a standard stream"
    return UNSAFE.get(op_type, UNLISTED)
