/* The debugger tests' component guest (world `calc` of calc.wit): see ../README.md. */
int calls;

int square(int x) {
    int result = x * x;
    calls++;
    return result;
}

__attribute__((export_name("compute")))
int compute(int n) {
    int total = 0;
    for (int i = 1; i <= n; i++) {
        total += square(i);
    }
    return total;
}

__attribute__((export_name("divide")))
int divide(int a, int b) {
    return a / b;
}
