/**
 * Reading ONNX files: {@link dev.salient.onnx.OnnxReader} parses the protobuf (classes generated from
 * {@code src/main/proto/onnx.proto}), checks the ops and the graph's order, and
 * {@link dev.salient.onnx.TensorDecoder} decodes tensors, resolving external data only inside the model's folder
 * and checking every declared size against the bytes present.
 */
package dev.salient.onnx;
