#include "enc_link.h"

struct enc_only_b b_only;
struct enc_node b_nodes[4];

long b_sum(const struct enc_list *l, enum enc_kind k) { return (long)l->count + k + b_only.big; }
