"""Where a model runs: this machine, a board over ssh, or a phone over adb.

    dev = open_device(target.device)          # a Device (devices/base.py)
    path = dev.stage(Path("model.gguf"))      # copied unless the device already has it (sha256 on the device)
    dev.fingerprint()                         # uname, CPU model and features, Android model
    dev.cleanup()

A target profile names its device in a ``[device]`` table (devices/spec.py);
verify measures there: agent mode (devices/agent.py) runs edgeslm's runtime
protocol on the device, binary mode the runtime's own tools.
"""

from edgeslm.devices.base import Device
from edgeslm.devices.kinds import open_device, scrub
from edgeslm.devices.spec import DeviceSpec, device_from_dict

__all__ = ["Device", "DeviceSpec", "device_from_dict", "open_device", "scrub"]
