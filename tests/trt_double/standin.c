/*
 * Stand-ins for TensorRT's native libraries, so that NVIDIA's real Python bindings
 * (tensorrt_bindings/tensorrt.so from the tensorrt_cu13_bindings wheel) can be imported on a
 * machine without a GPU or the TensorRT runtime. tests/trt_double/nvidia.py compiles this file
 * three times, once per library, with the matching soname:
 *
 *   -DSTANDIN_NVINFER      -> libnvinfer.so.<major>
 *   -DSTANDIN_PLUGIN       -> libnvinfer_plugin.so.<major>
 *   -DSTANDIN_ONNXPARSER   -> libnvonnxparser.so.<major>
 *
 * The symbols are exactly the TensorRT ones the bindings import (`nm -D --undefined-only
 * tensorrt.so`, the same ten in 10.16.1.11 and 11.4.0.106); none is called at import time.
 * Every factory returns NULL, so anything that needs real TensorRT (trt.Runtime(logger),
 * trt.Builder(logger), ...) fails; class definitions, enums and docstrings are all real.
 * The argument lists do not matter to the x86-64 C ABI for functions that ignore them.
 */
#include <stddef.h>

#define STANDIN __attribute__((visibility("default")))

#ifdef STANDIN_NVINFER
STANDIN void *createInferRuntime_INTERNAL(void *logger, int version) { return NULL; }
STANDIN void *createInferBuilder_INTERNAL(void *logger, int version) { return NULL; }
STANDIN void *createInferRefitter_INTERNAL(void *engine, void *logger, int version) { return NULL; }
STANDIN void *getPluginRegistry(void) { return NULL; }
STANDIN void *getBuilderPluginRegistry(int capability) { return NULL; }
#endif

#ifdef STANDIN_PLUGIN
STANDIN int initLibNvInferPlugins(void *logger, const char *lib_namespace) { return 0; }
#endif

#ifdef STANDIN_ONNXPARSER
STANDIN void *createNvOnnxParser_INTERNAL(void *network, void *logger, int version) { return NULL; }
STANDIN void *createNvOnnxParserRefitter_INTERNAL(void *refitter, void *logger, int version) { return NULL; }
STANDIN int getNvOnnxParserVersion(void) { return 0; }
#endif
