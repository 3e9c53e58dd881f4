#include "enc_link.h"

struct enc_list a_list;
enc_node_t a_node;

int a_count(struct enc_list *l, struct enc_point p) { return (int)l->count + p.x; }
