/* libFuzzer target: any bytes as a Kafka value, decoded as each of the four
 * schemas. Nothing may crash, leak or allocate beyond the input's size. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "of_avro.h"

static struct of_avro *avro;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct of_user_cmd uc;
    static struct of_order_cmd oc;
    static struct of_user_event ue;
    static struct of_order_event oe;
    struct of_err err;

    if (!avro && !(avro = of_avro_new(&err)))
        abort();
    of_avro_peek(avro, data, size, NULL, NULL);
    of_avro_decode_user_cmd(avro, data, size, &uc, &err);
    of_avro_decode_order_cmd(avro, data, size, &oc, &err);
    of_avro_decode_user_event(avro, data, size, &ue, &err);
    of_avro_decode_order_event(avro, data, size, &oe, &err);
    return 0;
}
