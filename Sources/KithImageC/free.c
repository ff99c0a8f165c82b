#include "KithImageC.h"
#include <stdlib.h>

void kith_image_free(void *pointer) { free(pointer); }
