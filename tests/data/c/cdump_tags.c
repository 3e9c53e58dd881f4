/* C dumper test input: BTF type and decl tags (clang for BPF). */
#define __tag1 __attribute__((btf_type_tag("tag1")))
#define __tag2 __attribute__((btf_type_tag("tag2")))
#define __dtag __attribute__((btf_decl_tag("dtag")))

struct tagged {
	int __tag1 *p;
	int __tag1 __tag2 *pp;
	const int __tag1 *cp;
	int x __dtag;
	struct tagged __tag2 *next;
} __dtag;

typedef int __tag1 *tagged_ptr_t __dtag;

int __dtag tagged_fn(struct tagged *t __dtag, tagged_ptr_t q)
{
	return t->x + *q;
}
