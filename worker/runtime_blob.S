/* runtime_blob.S - embeds worker/runtime.py (the trusted Python side of the
 * job child) into the zygote binary as a NUL-terminated string. */
    .section .rodata
    .global sandq_runtime_py
    .type sandq_runtime_py, @object
sandq_runtime_py:
    .incbin RUNTIME_PATH
    .byte 0
    .size sandq_runtime_py, . - sandq_runtime_py
    .section .note.GNU-stack,"",@progbits
