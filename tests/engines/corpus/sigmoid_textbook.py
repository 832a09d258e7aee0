"""Reverse-mode AD on scalars. Each node remembers which op made it and its inputs; the
derivative rules live in one method, _local_grads, like the table in the textbook."""

import math


class Node:
    def __init__(self, data, op=None, inputs=()):
        self.data = data
        self.grad = 0.0
        self.op = op
        self.inputs = inputs
        self.arg = None  # exponent for "pow", slope for "leaky_relu"

    def __repr__(self):
        return f"Node({self.data}, op={self.op})"

    @staticmethod
    def lift(x):
        return x if isinstance(x, Node) else Node(x)

    def __add__(self, other):
        other = Node.lift(other)
        return Node(self.data + other.data, "add", (self, other))

    def __sub__(self, other):
        other = Node.lift(other)
        return Node(self.data - other.data, "sub", (self, other))

    def __mul__(self, other):
        other = Node.lift(other)
        return Node(self.data * other.data, "mul", (self, other))

    def __truediv__(self, other):
        other = Node.lift(other)
        return Node(self.data / other.data, "div", (self, other))

    def __radd__(self, other):
        return Node.lift(other) + self

    def __rsub__(self, other):
        return Node.lift(other) - self

    def __rmul__(self, other):
        return Node.lift(other) * self

    def __rtruediv__(self, other):
        return Node.lift(other) / self

    def __neg__(self):
        return Node(-self.data, "neg", (self,))

    def __pow__(self, k):
        out = Node(self.data**k, "pow", (self,))
        out.arg = k
        return out

    def exp(self):
        return Node(math.exp(self.data), "exp", (self,))

    def log(self):
        return Node(math.log(self.data), "log", (self,))

    def tanh(self):
        return Node(math.tanh(self.data), "tanh", (self,))

    def sigmoid(self):
        return Node(1 / (1 + math.exp(-self.data)), "sigmoid", (self,))

    def relu(self):
        return Node(self.data if self.data > 0 else 0.0, "relu", (self,))

    def _local_grads(self):
        """d(self)/d(input) for each input, from the input values and self.data."""
        op, y = self.op, self.data
        x = [n.data for n in self.inputs]
        if op == "add":
            return [1.0, 1.0]
        if op == "sub":
            return [1.0, -1.0]
        if op == "mul":
            return [x[1], x[0]]
        if op == "div":
            return [1 / x[1], -x[0] / x[1] ** 2]
        if op == "neg":
            return [-1.0]
        if op == "pow":
            return [self.arg * x[0] ** (self.arg - 1)]
        if op == "exp":
            return [y]
        if op == "log":
            return [1 / x[0]]
        if op == "tanh":
            return [1 - y * y]
        if op == "sigmoid":
            return [y * (1 - y)]
        if op == "relu":
            return [1.0 if x[0] > 0 else 0.0]
        raise ValueError(f"unknown op {op}")

    def backward(self):
        # collect the graph and count how many nodes read each node
        readers = {id(self): 0}
        nodes = [self]
        stack = [self]
        while stack:
            n = stack.pop()
            for i in n.inputs:
                if id(i) not in readers:
                    readers[id(i)] = 0
                    nodes.append(i)
                    stack.append(i)
                readers[id(i)] += 1
        for n in nodes:
            if n.inputs:  # leaves keep accumulating, like torch
                n.grad = 0.0
        self.grad = 1.0
        # a node is done once every reader has passed its gradient down
        ready = [self]
        while ready:
            n = ready.pop()
            if not n.inputs:  # a leaf: nothing to pass on
                continue
            for inp, d in zip(n.inputs, n._local_grads()):
                inp.grad += d * n.grad
                readers[id(inp)] -= 1
                if readers[id(inp)] == 0:
                    ready.append(inp)


EXPECTED = {
    "correct": True,
    "cls": "Node",
    "broken_ops": [],
    "missing_ops": ["powv", "leaky_relu"],
    "conventions": [
        "ZeroDivisionError for division by zero and 0.0 ** -1 (torch: inf or nan)",
        "ZeroDivisionError in backward of x ** 0.5 at 0 (torch: inf)",
        "OverflowError for exp(710) and sigmoid(-1000) (torch: inf, 0)",
        "ValueError for log(0) and log(-1) (torch: -inf, nan)",
        "relu(-0.0) is +0.0",
        "relu(nan) is 0 and relu'(nan) is 0 (torch: nan and 1)",
    ],
    "bug": "",
}
