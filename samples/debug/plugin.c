/* A plugin-like guest for the debugger tests (tests/tests/debugger_production.rs): its state lives in
 * linear memory behind pointers, as a real plugin's does. See README.md for the build. */

struct vec2 {
    int x;
    int y;
};

struct particle {
    int id;
    struct vec2 pos;
    struct vec2 vel;
    struct particle *next;
};

struct world {
    int count;
    struct particle *first;
    struct particle particles[8];
};

static struct world world;
/* Set by the host (through linear memory) to end `spin`. */
static volatile int stop;

__attribute__((noinline)) static int energy(const struct particle *p) {
    int e = p->vel.x * p->vel.x + p->vel.y * p->vel.y;
    return e + p->id;
}

/* Links `n` particles (at most 8) into a list, last one first. */
__attribute__((export_name("setup"))) int setup(int n) {
    if (n > 8)
        n = 8;
    world.count = n;
    world.first = 0;
    for (int i = n - 1; i >= 0; i--) {
        struct particle *p = &world.particles[i];
        p->id = 100 + i;
        p->pos.x = i;
        p->pos.y = 2 * i;
        p->vel.x = i + 1;
        p->vel.y = -i;
        p->next = world.first;
        world.first = p;
    }
    return n;
}

__attribute__((export_name("total_energy"))) int total_energy(int n) {
    setup(n);
    int total = 0;
    for (struct particle *p = world.first; p; p = p->next) {
        total += energy(p);
    }
    return total;
}

/* Writes through a pointer `offset` bytes past the particles: far enough out, a trap. */
__attribute__((export_name("poke"))) int poke(int offset) {
    struct particle *p = &world.particles[1];
    int *slot = (int *)((char *)p + offset);
    *slot = p->id;
    return p->id;
}

__attribute__((noinline)) static int churn(struct particle *p, int rounds) {
    int acc = 0;
    for (int r = 0; r < rounds; r++) {
        acc += energy(p) ^ r;
    }
    return acc;
}

/* Busy work: `rounds` passes over the particles, or (rounds < 0) until the host sets the word
 * at `stop_flag()`. */
__attribute__((export_name("spin"))) int spin(int rounds) {
    setup(8);
    int acc = 0;
    for (int r = 0; r != rounds && !stop; r++) {
        for (struct particle *p = world.first; p; p = p->next) {
            acc += churn(p, 1000);
        }
    }
    return acc;
}

/* The linear-memory address of the word that ends `spin`. */
__attribute__((export_name("stop_flag"))) int stop_flag(void) {
    return (int)&stop;
}

/* The `id` of the particle `*link` points to, through a pointer to a pointer. */
__attribute__((noinline)) static int first_id(struct particle **link) {
    return (*link)->id;
}

/* `first_id` on the list `setup(n)` builds. */
__attribute__((export_name("first_of"))) int first_of(int n) {
    setup(n);
    return first_id(&world.first);
}

/* Scalar pointees: a counter, a C string and a list link, each behind a pointer. */
static int counter = 41;
static const char plugin_name[] = "kiln-plugin";

__attribute__((noinline)) static int bump(int *ip, const char *s, struct particle **pp) {
    *ip += 1;
    return *ip + s[0] + (*pp)->id;
}

/* `bump` on the counter, the name and the head of the list `setup(n)` builds. */
__attribute__((export_name("bump_counter"))) int bump_counter(int n) {
    setup(n);
    return bump(&counter, plugin_name, &world.first);
}
