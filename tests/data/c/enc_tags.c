/* clang's BTF annotations (DW_TAG_LLVM_annotation), which pahole 1.24 turns into TYPE_TAG and
 * DECL_TAG: tags on pointers (one, two, nested), on structs, unions, typedefs, members,
 * functions and parameters. */
#define __t1 __attribute__((btf_type_tag("t1")))
#define __t2 __attribute__((btf_type_tag("t2")))
#define __d(x) __attribute__((btf_decl_tag(x)))

struct __d("s_tag") tagged {
	int __t1 *one;
	int __t1 __t2 *two;
	char __t2 * __t1 *nested;
	long plain __d("m_tag") __d("m_tag2");
	struct tagged __t1 *self;
};

union __d("u_tag") tunion {
	int a __d("ua");
	void __t2 *p;
};

typedef struct tagged tagged_t __d("td_tag");

int __d("f_tag") tag_fn(tagged_t *t __d("p0"), union tunion *u, int __t2 *r __d("p2"))
{
	return *t->one + *r + u->a;
}

static int __d("static_tag") tag_static(int x __d("px"))
{
	return x + 1;
}

int tag_caller(int __t1 *q)
{
	return tag_static(*q);
}
