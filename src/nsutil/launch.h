// Parent side of starting a container init: clone into the namespaces, write id maps, and
// wait until the init is set up and blocked on the exec FIFO.
#pragma once

#include <sys/types.h>

#include "base/process.h"
#include "base/unique_fd.h"
#include "nsutil/plan.h"

namespace sv::ns {

struct Launched {
  ChildGuard init;  // killed and reaped if the caller fails before releasing it
};

// execFifoFd: an O_PATH fd of the exec FIFO the init opens for writing before exec; -1 means
// exec at once (no create/start split). Throws SysError with the child's errno and message.
Launched launchInit(const LaunchPlan& plan, int execFifoFd);

// The child's entry, used by launchInit (exposed for the intermediate process).
[[noreturn]] void childMain(const LaunchPlan& plan, int syncFd, int execFifoFd,
                            bool waitForMaps) noexcept;

}  // namespace sv::ns
