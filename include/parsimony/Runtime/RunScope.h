/*===- RunScope.h - a model run's failed checks and temporaries ---*- C -*-===*\
|*                                                                          *|
|* Generated entry points check at run time the sizes they compute from    *|
|* tensor contents (--parsimony-insert-runtime-checks). A failed check     *|
|* calls parsimony_check_failed(message) and returns from the entry point  *|
|* early, so the temporaries it had allocated are never freed by it. The   *|
|* model library's NAME_run brackets every run with parsimony_run_begin()  *|
|* and parsimony_run_end(): while a run is open, the calling thread's      *|
|* allocations through the buffer cache are listed, and a failed run's     *|
|* leftovers are freed at its end.                                         *|
|*                                                                          *|
\*===----------------------------------------------------------------------===*/

#ifndef PARSIMONY_RUNTIME_RUNSCOPE_H
#define PARSIMONY_RUNTIME_RUNSCOPE_H

#include "parsimony/Runtime/Kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens a run on the calling thread: clears its failed check and starts
   listing its allocations. */
PARSIMONY_RUNTIME_API void parsimony_run_begin(void);

/* Records the first failed check of the calling thread's run. `message`
   must outlive the run (generated code passes a string constant). */
PARSIMONY_RUNTIME_API void parsimony_check_failed(const char *message);

/* Closes the calling thread's run: returns the failed check's message, or
   NULL when every check held. After a failed check, frees the buffers the
   run allocated and did not free. */
PARSIMONY_RUNTIME_API const char *parsimony_run_end(void);

#ifdef __cplusplus
}
#endif

#endif // PARSIMONY_RUNTIME_RUNSCOPE_H
