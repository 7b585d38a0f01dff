"""PyTorch's beginner tutorials (the 60-minute blitz and Learn the Basics), d2l.ai's LeNet (lazy layers)
and PyTorch's MNIST example (Adadelta) run on minicnn with only the import lines changed.

Each tutorial below is a list of sections: representative code in the tutorials' order and style,
written against PyTorch (``import torch``, ``from torch import nn, optim``, ``import torch.nn.functional
as F``, ``torchvision.models``). ``swap_imports`` rewrites only those import lines for minicnn. The
sections of one tutorial run top to bottom in one namespace, as a reader runs them. The same code
also runs on PyTorch itself (the control that it is PyTorch code), except the sections that need
torchvision when it is not installed.

The data is the one part that differs: torchvision's datasets are replaced by small random image
sets of the same shapes, built with each library's own DataLoader (DATA below).
"""
import re
import textwrap

import numpy as np
import pytest

IMPORTS = [   # (PyTorch's import line, minicnn's)
    (r"import torch", "import minicnn as torch"),
    (r"import torch\.nn as nn", "import minicnn.nn as nn"),
    (r"import torch\.optim as optim", "import minicnn.optim as optim"),
    (r"import torch\.nn\.functional as F", "import minicnn.nn.functional as F"),
    (r"from torch import (.+)", r"from minicnn import \1"),
    (r"from torch\.([\w.]+) import (.+)", r"from minicnn.\1 import \2"),
    (r"import torchvision\.models as models", "import minicnn.models as models"),
    (r"from torchvision\.models import (.+)", r"from minicnn.models import \1"),
]


def swap_imports(code):
    """The code with each PyTorch import line replaced by minicnn's; every other line is untouched."""
    lines = []
    for line in code.splitlines():
        indent, stripped = re.match(r"(\s*)(.*)", line).groups()
        for theirs, ours in IMPORTS:
            if re.fullmatch(theirs, stripped):
                stripped = re.sub(theirs, ours, stripped)
                break
        lines.append(indent + stripped)
    return "\n".join(lines)


# Each library's data: (N, C, H, W) float images in [0, 1) and int64 labels, as torchvision's
# ToTensor() gives, in loaders (batches) and datasets (one (image, label) per index).
DATA = {
    "torch": """
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        def make_data(n, shape, seed):
            g = torch.Generator().manual_seed(seed)
            return TensorDataset(torch.rand(n, *shape, generator=g), torch.randint(0, 10, (n,), generator=g))
        """,
    "minicnn": """
        import minicnn as torch
        from minicnn.data import ArrayDataset, DataLoader, transforms

        class ImageSet(ArrayDataset):
            # What torchvision's datasets give a reader: one (float image tensor, label) per index.
            def __getitem__(self, i):
                if not isinstance(i, int):
                    return super().__getitem__(i)        # the DataLoader's batches
                return torch.tensor(self.images[i] / 255.0, dtype=torch.float), int(self.labels[i])

        def make_data(n, shape, seed):
            rng = np.random.default_rng(seed)
            return ImageSet(rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, 10, n), list(range(10)),
                            "random")

        _DataLoader = DataLoader
        def DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0, pin_memory=False):
            return _DataLoader(dataset, batch_size, shuffle, transform=transforms.ToFloat(), num_workers=num_workers,
                               pin_memory=pin_memory)
        """,
}
DATA_COMMON = """
    classes = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
               'Ankle boot')
    training_data, test_data = make_data(256, (1, 28, 28), 0), make_data(64, (1, 28, 28), 1)
    train_dataloader = DataLoader(training_data, batch_size=64, shuffle=True)
    test_dataloader = DataLoader(test_data, batch_size=64)
    batch_size = 4
    trainloader = DataLoader(make_data(64, (3, 32, 32), 2), batch_size=batch_size, shuffle=True)
    testloader = DataLoader(make_data(32, (3, 32, 32), 3), batch_size=batch_size, shuffle=False)
    """

NEURAL_NETWORK = """
    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(28*28, 512),
                nn.ReLU(),
                nn.Linear(512, 512),
                nn.ReLU(),
                nn.Linear(512, 10),
            )

        def forward(self, x):
            x = self.flatten(x)
            logits = self.linear_relu_stack(x)
            return logits
    """

TRAIN_AND_TEST = """
    def train(dataloader, model, loss_fn, optimizer):
        size = len(dataloader.dataset)
        model.train()
        for batch, (X, y) in enumerate(dataloader):
            X, y = X.to(device), y.to(device)
            pred = model(X)
            loss = loss_fn(pred, y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            if batch % 2 == 0:
                loss, current = loss.item(), (batch + 1) * len(X)
                print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")

    def test(dataloader, model, loss_fn):
        size = len(dataloader.dataset)
        num_batches = len(dataloader)
        model.eval()
        test_loss, correct = 0, 0
        with torch.no_grad():
            for X, y in dataloader:
                X, y = X.to(device), y.to(device)
                pred = model(X)
                test_loss += loss_fn(pred, y).item()
                correct += (pred.argmax(1) == y).type(torch.float).sum().item()
        test_loss /= num_batches
        correct /= size
        print(f"Test Error: Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f}")
        return correct
    """

def _join(*parts):
    """Sections made of shared pieces (each piece indented its own way)."""
    return "\n".join(textwrap.dedent(part) for part in parts)


TUTORIALS = {
    "blitz_tensors": [
        ("creation", """
            x = torch.empty(5, 3)
            x = torch.rand(5, 3)
            x = torch.zeros(5, 3, dtype=torch.long)
            x = torch.tensor([5.5, 3])
            x = x.new_ones(5, 3, dtype=torch.double)
            x = torch.randn_like(x, dtype=torch.float)
            print(x.size())
            assert x.size() == (5, 3) and x.dtype == torch.float
            """),
        ("addition", """
            y = torch.rand(5, 3)
            print(x + y)
            print(torch.add(x, y))
            result = torch.empty(5, 3)
            torch.add(x, y, out=result)
            y.add_(x)
            assert (result == y).all()
            print(y[:, 1])
            """),
        ("view", """
            x = torch.randn(4, 4)
            y = x.view(16)
            z = x.view(-1, 8)
            print(x.size(), y.size(), z.size())
            x = torch.randn(1)
            print(x.item())
            """),
        ("numpy_bridge", """
            a = torch.ones(5)
            b = a.numpy()
            a.add_(1)
            assert b[0] == 2
            a = np.ones(5)
            b = torch.from_numpy(a)
            np.add(a, 1, out=a)
            assert b[0] == 2
            """),
        ("cuda", """
            if torch.cuda.is_available():
                device = torch.device("cuda")
                y = torch.ones_like(x, device=device)
                x = x.to(device)
                z = x + y
                print(z.to("cpu", torch.double))
            print(torch.device("cpu"))
            """),
    ],
    "basics_tensors": [
        ("from_data", """
            data = [[1, 2], [3, 4]]
            x_data = torch.tensor(data)
            np_array = np.array(data)
            x_np = torch.from_numpy(np_array)
            """),
        ("like", """
            x_ones = torch.ones_like(x_data)
            print(f"Ones Tensor: \\n {x_ones} \\n")
            x_rand = torch.rand_like(x_data, dtype=torch.float)
            print(f"Random Tensor: \\n {x_rand} \\n")
            """),
        ("shapes", """
            shape = (2, 3,)
            rand_tensor = torch.rand(shape)
            ones_tensor = torch.ones(shape)
            zeros_tensor = torch.zeros(shape)
            """),
        ("attributes", """
            tensor = torch.rand(3, 4)
            print(f"Shape of tensor: {tensor.shape}")
            print(f"Datatype of tensor: {tensor.dtype}")
            print(f"Device tensor is stored on: {tensor.device}")
            """),
        ("accelerator", """
            if torch.accelerator.is_available():
                tensor = tensor.to(torch.accelerator.current_accelerator())
            """),
        ("indexing", """
            tensor = torch.ones(4, 4)
            print(f"First row: {tensor[0]}")
            print(f"First column: {tensor[:, 0]}")
            print(f"Last column: {tensor[..., -1]}")
            tensor[:, 1] = 0
            print(tensor)
            """),
        ("cat", """
            t1 = torch.cat([tensor, tensor, tensor], dim=1)
            print(t1)
            """),
        ("matmul", """
            y1 = tensor @ tensor.T
            y2 = tensor.matmul(tensor.T)
            y3 = torch.rand_like(y1)
            torch.matmul(tensor, tensor.T, out=y3)
            assert (y1 == y3).all() and (y2 == y3).all()
            """),
        ("elementwise", """
            z1 = tensor * tensor
            z2 = tensor.mul(tensor)
            z3 = torch.rand_like(tensor)
            torch.mul(tensor, tensor, out=z3)
            """),
        ("single_element", """
            agg = tensor.sum()
            agg_item = agg.item()
            print(agg_item, type(agg_item))
            """),
        ("in_place", """
            print(f"{tensor} \\n")
            tensor.add_(5)
            print(tensor)
            """),
        ("to_numpy", """
            t = torch.ones(5)
            n = t.numpy()
            t.add_(1)
            print(f"t: {t}")
            print(f"n: {n}")
            """),
        ("from_numpy", """
            n = np.ones(5)
            t = torch.from_numpy(n)
            np.add(n, 1, out=n)
            print(f"t: {t}")
            """),
    ],
    "blitz_autograd": [
        ("resnet_step", """
            from torchvision.models import resnet18
            model = resnet18()
            data = torch.rand(1, 3, 64, 64)
            labels = torch.rand(1, 1000)
            prediction = model(data)
            loss = (prediction - labels).sum()
            loss.backward()
            optim = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
            optim.step()
            """),
        ("external_gradient", """
            a = torch.tensor([2., 3.], requires_grad=True)
            b = torch.tensor([6., 4.], requires_grad=True)
            Q = 3*a**3 - b**2
            external_grad = torch.tensor([1., 1.])
            Q.backward(gradient=external_grad)
            print(9*a**2 == a.grad)
            print(-2*b == b.grad)
            assert (9*a**2 == a.grad).all()
            """),
        ("requires_grad", """
            x = torch.rand(5, 5)
            y = torch.rand(5, 5)
            z = torch.rand((5, 5), requires_grad=True)
            a = x + y
            print(f"Does `a` require gradients?: {a.requires_grad}")
            b = x + z
            print(f"Does `b` require gradients?: {b.requires_grad}")
            """),
        ("frozen_finetuning", """
            from torch import nn, optim
            for param in model.parameters():
                param.requires_grad = False
            model.fc = nn.Linear(512, 10)
            optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
            model(data).sum().backward()
            optimizer.step()
            """),
    ],
    "blitz_neural_networks": [
        ("define", """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super(Net, self).__init__()
                    self.conv1 = nn.Conv2d(1, 6, 5)
                    self.conv2 = nn.Conv2d(6, 16, 5)
                    self.fc1 = nn.Linear(16 * 5 * 5, 120)
                    self.fc2 = nn.Linear(120, 84)
                    self.fc3 = nn.Linear(84, 10)

                def forward(self, input):
                    c1 = F.relu(self.conv1(input))
                    s2 = F.max_pool2d(c1, (2, 2))
                    c3 = F.relu(self.conv2(s2))
                    s4 = F.max_pool2d(c3, 2)
                    s4 = torch.flatten(s4, 1)
                    f5 = F.relu(self.fc1(s4))
                    f6 = F.relu(self.fc2(f5))
                    output = self.fc3(f6)
                    return output

            net = Net()
            print(net)
            """),
        ("parameters", """
            params = list(net.parameters())
            print(len(params))
            print(params[0].size())
            """),
        ("forward", """
            input = torch.randn(1, 1, 32, 32)
            out = net(input)
            print(out)
            """),
        ("backward_random_gradient", """
            net.zero_grad()
            out.backward(torch.randn(1, 10))
            """),
        ("loss", """
            output = net(input)
            target = torch.randn(10)
            target = target.view(1, -1)
            criterion = nn.MSELoss()
            loss = criterion(output, target)
            print(loss)
            """),
        ("grad_fn_chain", """
            print(loss.grad_fn)
            print(loss.grad_fn.next_functions[0][0])
            print(loss.grad_fn.next_functions[0][0].next_functions[0][0])
            """),
        ("backprop", """
            net.zero_grad()
            print('conv1.bias.grad before backward')
            print(net.conv1.bias.grad)
            loss.backward()
            print('conv1.bias.grad after backward')
            print(net.conv1.bias.grad)
            """),
        ("manual_sgd", """
            learning_rate = 0.01
            for f in net.parameters():
                f.data.sub_(f.grad.data * learning_rate)
            """),
        ("optimizer", """
            import torch.optim as optim
            optimizer = optim.SGD(net.parameters(), lr=0.01)
            optimizer.zero_grad()
            output = net(input)
            loss = criterion(output, target)
            loss.backward()
            optimizer.step()
            """),
    ],
    "blitz_training_a_classifier": [
        ("show_batch", """
            dataiter = iter(trainloader)
            images, labels = next(dataiter)
            print(' '.join(f'{classes[labels[j]]:5s}' for j in range(batch_size)))
            """),
        ("define", """
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv1 = nn.Conv2d(3, 6, 5)
                    self.pool = nn.MaxPool2d(2, 2)
                    self.conv2 = nn.Conv2d(6, 16, 5)
                    self.fc1 = nn.Linear(16 * 5 * 5, 120)
                    self.fc2 = nn.Linear(120, 84)
                    self.fc3 = nn.Linear(84, 10)

                def forward(self, x):
                    x = self.pool(F.relu(self.conv1(x)))
                    x = self.pool(F.relu(self.conv2(x)))
                    x = torch.flatten(x, 1)
                    x = F.relu(self.fc1(x))
                    x = F.relu(self.fc2(x))
                    x = self.fc3(x)
                    return x

            net = Net()
            """),
        ("loss_and_optimizer", """
            import torch.optim as optim
            criterion = nn.CrossEntropyLoss()
            optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
            """),
        ("train", """
            for epoch in range(2):
                running_loss = 0.0
                for i, data in enumerate(trainloader, 0):
                    inputs, labels = data
                    optimizer.zero_grad()
                    outputs = net(inputs)
                    loss = criterion(outputs, labels)
                    loss.backward()
                    optimizer.step()
                    running_loss += loss.item()
                    if i % 8 == 7:
                        print(f'[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 8:.3f}')
                        running_loss = 0.0
            print('Finished Training')
            """),
        ("save", """
            PATH = './cifar_net.pth'
            torch.save(net.state_dict(), PATH)
            """),
        ("ground_truth", """
            dataiter = iter(testloader)
            images, labels = next(dataiter)
            print('GroundTruth: ', ' '.join(f'{classes[labels[j]]:5s}' for j in range(4)))
            """),
        ("load", """
            net = Net()
            net.load_state_dict(torch.load(PATH, weights_only=True))
            """),
        ("predict", """
            outputs = net(images)
            _, predicted = torch.max(outputs, 1)
            print('Predicted: ', ' '.join(f'{classes[predicted[j]]:5s}' for j in range(4)))
            """),
        ("accuracy", """
            correct = 0
            total = 0
            with torch.no_grad():
                for data in testloader:
                    images, labels = data
                    outputs = net(images)
                    _, predicted = torch.max(outputs, 1)
                    total += labels.size(0)
                    correct += (predicted == labels).sum().item()
            print(f'Accuracy of the network on the test images: {100 * correct // total} %')
            assert total == 32 and 0 <= correct <= total
            """),
        ("per_class_accuracy", """
            correct_pred = {classname: 0 for classname in classes}
            total_pred = {classname: 0 for classname in classes}
            with torch.no_grad():
                for data in testloader:
                    images, labels = data
                    outputs = net(images)
                    _, predictions = torch.max(outputs, 1)
                    for label, prediction in zip(labels, predictions):
                        if label == prediction:
                            correct_pred[classes[label]] += 1
                        total_pred[classes[label]] += 1
            for classname, correct_count in correct_pred.items():
                if total_pred[classname]:
                    accuracy = 100 * float(correct_count) / total_pred[classname]
                    print(f'Accuracy for class: {classname:5s} is {accuracy:.1f} %')
            assert sum(total_pred.values()) == 32
            """),
        ("device", """
            device = torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')
            print(device)
            net.to(device)
            inputs, labels = data[0].to(device), data[1].to(device)
            """),
    ],
    "basics_quickstart": [
        ("data_shapes", """
            for X, y in test_dataloader:
                print(f"Shape of X [N, C, H, W]: {X.shape}")
                print(f"Shape of y: {y.shape} {y.dtype}")
                break
            """),
        ("model", _join("""
            device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
            print(f"Using {device} device")
            """, NEURAL_NETWORK, """
            model = NeuralNetwork().to(device)
            print(model)
            """)),
        ("loss_and_optimizer", """
            loss_fn = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
            """),
        ("train_and_test", TRAIN_AND_TEST),
        ("epochs", """
            epochs = 2
            for t in range(epochs):
                print(f"Epoch {t+1}\\n-------------------------------")
                train(train_dataloader, model, loss_fn, optimizer)
                test(test_dataloader, model, loss_fn)
            print("Done!")
            """),
        ("save", """
            torch.save(model.state_dict(), "model.pth")
            """),
        ("load", """
            model = NeuralNetwork().to(device)
            model.load_state_dict(torch.load("model.pth", weights_only=True))
            """),
        ("predict", """
            model.eval()
            x, y = test_data[0][0], test_data[0][1]
            with torch.no_grad():
                x = x.to(device)
                pred = model(x)
                predicted, actual = classes[pred[0].argmax(0)], classes[y]
                print(f'Predicted: "{predicted}", Actual: "{actual}"')
            """),
    ],
    "basics_build_model": [
        ("model", _join("""
            device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
            """, NEURAL_NETWORK, """
            model = NeuralNetwork().to(device)
            print(model)
            """)),
        ("predict_probabilities", """
            X = torch.rand(1, 28, 28, device=device)
            logits = model(X)
            pred_probab = nn.Softmax(dim=1)(logits)
            y_pred = pred_probab.argmax(1)
            print(f"Predicted class: {y_pred}")
            """),
        ("minibatch", """
            input_image = torch.rand(3, 28, 28)
            print(input_image.size())
            """),
        ("flatten", """
            flatten = nn.Flatten()
            flat_image = flatten(input_image)
            print(flat_image.size())
            """),
        ("linear", """
            layer1 = nn.Linear(in_features=28*28, out_features=20)
            hidden1 = layer1(flat_image)
            print(hidden1.size())
            """),
        ("relu", """
            print(f"Before ReLU: {hidden1}\\n\\n")
            hidden1 = nn.ReLU()(hidden1)
            print(f"After ReLU: {hidden1}")
            """),
        ("sequential", """
            seq_modules = nn.Sequential(
                flatten,
                layer1,
                nn.ReLU(),
                nn.Linear(20, 10)
            )
            input_image = torch.rand(3,28,28)
            logits = seq_modules(input_image)
            """),
        ("softmax", """
            softmax = nn.Softmax(dim=1)
            pred_probab = softmax(logits)
            """),
        ("parameters", """
            print(f"Model structure: {model}\\n\\n")
            for name, param in model.named_parameters():
                print(f"Layer: {name} | Size: {param.size()} | Values : {param[:2]} \\n")
            """),
    ],
    "basics_autograd": [
        ("graph", """
            import torch
            x = torch.ones(5)  # input tensor
            y = torch.zeros(3)  # expected output
            w = torch.randn(5, 3, requires_grad=True)
            b = torch.randn(3, requires_grad=True)
            z = torch.matmul(x, w)+b
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
            """),
        ("grad_fn", """
            print(f"Gradient function for z = {z.grad_fn}")
            print(f"Gradient function for loss = {loss.grad_fn}")
            """),
        ("gradients", """
            loss.backward()
            print(w.grad)
            print(b.grad)
            """),
        ("no_grad", """
            z = torch.matmul(x, w)+b
            print(z.requires_grad)
            with torch.no_grad():
                z = torch.matmul(x, w)+b
            print(z.requires_grad)
            """),
        ("detach", """
            z = torch.matmul(x, w)+b
            z_det = z.detach()
            print(z_det.requires_grad)
            """),
        ("jacobian_product", """
            inp = torch.eye(4, 5, requires_grad=True)
            out = (inp+1).pow(2).t()
            out.backward(torch.ones_like(out), retain_graph=True)
            print(f"First call\\n{inp.grad}")
            out.backward(torch.ones_like(out), retain_graph=True)
            print(f"\\nSecond call\\n{inp.grad}")
            inp.grad.zero_()
            out.backward(torch.ones_like(out), retain_graph=True)
            print(f"\\nCall after zeroing gradients\\n{inp.grad}")
            assert inp.grad[0, 0] == 4 and inp.grad[0, 1] == 2
            """),
    ],
    "basics_optimization": [
        ("model", _join("""
            import torch
            from torch import nn
            device = "cpu"
            """, NEURAL_NETWORK, """
            model = NeuralNetwork()
            """)),
        ("hyperparameters", """
            learning_rate = 1e-3
            batch_size = 64
            epochs = 2
            loss_fn = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
            """),
        ("loops", TRAIN_AND_TEST),
        ("run", """
            for t in range(epochs):
                print(f"Epoch {t+1}\\n-------------------------------")
                train(train_dataloader, model, loss_fn, optimizer)
                accuracy = test(test_dataloader, model, loss_fn)
            print("Done!")
            assert 0 <= accuracy <= 1
            """),
    ],
    # d2l.ai, chapter 7.6 (LeNet) and 8.5 (batch normalization): every layer is lazy.
    "d2l_lenet": [
        ("model", """
            def init_cnn(module):
                if type(module) == nn.Linear or type(module) == nn.Conv2d:
                    nn.init.xavier_uniform_(module.weight)

            net = nn.Sequential(
                nn.LazyConv2d(6, kernel_size=5, padding=2), nn.Sigmoid(),
                nn.AvgPool2d(kernel_size=2, stride=2),
                nn.LazyConv2d(16, kernel_size=5), nn.Sigmoid(),
                nn.AvgPool2d(kernel_size=2, stride=2),
                nn.Flatten(),
                nn.LazyLinear(120), nn.Sigmoid(),
                nn.LazyLinear(84), nn.Sigmoid(),
                nn.LazyLinear(10))
            """),
        ("layer_summary", """
            X = torch.randn(*(1, 1, 28, 28))
            for layer in net:
                X = layer(X)
                print(layer.__class__.__name__, 'output shape:\t', X.shape)
            assert X.shape == (1, 10)
            net.apply(init_cnn)
            assert net[9].weight.shape == (84, 120) and type(net[0]) == nn.Conv2d
            """),
        ("train", """
            optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
            loss_fn = nn.CrossEntropyLoss()
            for X, y in train_dataloader:
                loss = loss_fn(net(X), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            assert loss.item() == loss.item()    # not NaN
            """),
        ("batch_norm", """
            bn_net = nn.Sequential(
                nn.LazyConv2d(6, kernel_size=5), nn.LazyBatchNorm2d(), nn.Sigmoid(),
                nn.AvgPool2d(kernel_size=2, stride=2),
                nn.LazyConv2d(16, kernel_size=5), nn.LazyBatchNorm2d(), nn.Sigmoid(),
                nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
                nn.LazyLinear(120), nn.LazyBatchNorm1d(), nn.Sigmoid(),
                nn.LazyLinear(84), nn.LazyBatchNorm1d(), nn.Sigmoid(),
                nn.LazyLinear(10))
            bn_net(torch.randn(2, 1, 28, 28))
            assert bn_net[1].running_mean.shape == (6,) and bn_net[5].weight.shape == (16,)
            assert bn_net[13].running_var.shape == (84,) and type(bn_net[13]) == nn.BatchNorm1d
            """),
    ],
    # PyTorch's examples/mnist/main.py: its Net, train and test, Adadelta and StepLR as its defaults.
    "mnist_example": [
        ("net", """
            from torch.optim.lr_scheduler import StepLR

            class Net(nn.Module):
                def __init__(self):
                    super(Net, self).__init__()
                    self.conv1 = nn.Conv2d(1, 32, 3, 1)
                    self.conv2 = nn.Conv2d(32, 64, 3, 1)
                    self.dropout1 = nn.Dropout(0.25)
                    self.dropout2 = nn.Dropout(0.5)
                    self.fc1 = nn.Linear(9216, 128)
                    self.fc2 = nn.Linear(128, 10)

                def forward(self, x):
                    x = self.conv1(x)
                    x = F.relu(x)
                    x = self.conv2(x)
                    x = F.relu(x)
                    x = F.max_pool2d(x, 2)
                    x = self.dropout1(x)
                    x = torch.flatten(x, 1)
                    x = self.fc1(x)
                    x = F.relu(x)
                    x = self.dropout2(x)
                    x = self.fc2(x)
                    output = F.log_softmax(x, dim=1)
                    return output
            """),
        ("train_and_test", """
            def train(model, device, train_loader, optimizer, epoch):
                model.train()
                for batch_idx, (data, target) in enumerate(train_loader):
                    data, target = data.to(device), target.to(device)
                    optimizer.zero_grad()
                    output = model(data)
                    loss = F.nll_loss(output, target)
                    loss.backward()
                    optimizer.step()
                    if batch_idx % 2 == 0:
                        print('Train Epoch: {} [{}/{}]\tLoss: {:.6f}'.format(
                            epoch, batch_idx * len(data), len(train_loader.dataset), loss.item()))

            def test(model, device, test_loader):
                model.eval()
                test_loss = 0
                correct = 0
                with torch.no_grad():
                    for data, target in test_loader:
                        data, target = data.to(device), target.to(device)
                        output = model(data)
                        test_loss += F.nll_loss(output, target, reduction='sum').item()
                        pred = output.argmax(dim=1, keepdim=True)
                        correct += pred.eq(target.view_as(pred)).sum().item()
                test_loss /= len(test_loader.dataset)
                print('Test set: Average loss: {:.4f}, Accuracy: {}/{}'.format(
                    test_loss, correct, len(test_loader.dataset)))
                return test_loss
            """),
        ("main", """
            torch.manual_seed(1)
            torch.backends.cudnn.benchmark = True
            use_accel = torch.accelerator.is_available()
            device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")
            train_kwargs = {'batch_size': 64}
            test_kwargs = {'batch_size': 64}
            accel_kwargs = {'num_workers': 1, 'pin_memory': True, 'shuffle': True}
            train_kwargs.update(accel_kwargs)
            test_kwargs.update(accel_kwargs)
            train_loader = DataLoader(training_data, **train_kwargs)
            test_loader = DataLoader(test_data, **test_kwargs)
            model = Net().to(device)
            optimizer = optim.Adadelta(model.parameters(), lr=1.0)
            scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
            for epoch in range(1, 3):
                train(model, device, train_loader, optimizer, epoch)
                test_loss = test(model, device, test_loader)
                scheduler.step()
            assert abs(optimizer.param_groups[0]['lr'] - 0.49) < 1e-12 and test_loss == test_loss
            assert len(optimizer.state_dict()['state']) == 8
            """),
    ],
    "basics_save_and_load": [
        ("save_weights", """
            import torch
            import torchvision.models as models
            model = models.resnet18()
            torch.save(model.state_dict(), 'model_weights.pth')
            """),
        ("load_weights", """
            model = models.resnet18()
            model.load_state_dict(torch.load('model_weights.pth', weights_only=True))
            model.eval()
            """),
    ],
}
# The tutorials' code that needs torchvision (minicnn.models stands in for it).
NEEDS_TORCHVISION = {("blitz_autograd", "resnet_step"), ("blitz_autograd", "frozen_finetuning"),
                     ("basics_save_and_load", "save_weights"), ("basics_save_and_load", "load_weights")}

# What minicnn deliberately does not do, and the message that says so (docs/from-pytorch.md).
REFUSED = [
    ("torch.save(model, 'model.pth')", TypeError, "Save model.state_dict()"),
    ("torch.load('model_weights.pth', weights_only=False)", ValueError, "weights_only=False is not supported"),
    ("models.vgg16(weights='IMAGENET1K_V1')", ValueError, "minicnn has no pretrained weights"),
    ("(x * x).sum().backward(create_graph=True)", NotImplementedError, "double backprop"),
]


def run_tutorial(library, name):
    """Run the tutorial's sections in order in one namespace; returns the names of those that ran."""
    namespace = {"np": np}
    prelude = textwrap.dedent(DATA[library]) + textwrap.dedent(DATA_COMMON)
    exec(compile(prelude, f"<{library} data>", "exec"), namespace)
    ran = []
    for section, code in TUTORIALS[name]:
        # Each tutorial starts with these imports; a section may import more itself.
        code = "import torch\nfrom torch import nn, optim\nimport torch.nn.functional as F\n" + textwrap.dedent(code)
        if library == "minicnn":
            code = swap_imports(code)
        elif (name, section) in NEEDS_TORCHVISION:
            pytest.importorskip("torchvision")
        exec(compile(code, f"<{name}: {section}>", "exec"), namespace)
        ran.append(section)
    return ran


def test_swap_imports_changes_only_import_lines():
    code = "import torch\n    from torch import nn, optim\nx = torch.ones(2)  # import torch\nimport torchvision.models as models"
    assert swap_imports(code) == ("import minicnn as torch\n    from minicnn import nn, optim\n"
                                  "x = torch.ones(2)  # import torch\nimport minicnn.models as models")


@pytest.mark.parametrize("name", list(TUTORIALS))
def test_tutorial_runs_on_minicnn_with_only_the_imports_changed(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)             # the tutorials save checkpoints in the working folder
    assert run_tutorial("minicnn", name) == [section for section, _ in TUTORIALS[name]]


@pytest.mark.parametrize("name", list(TUTORIALS))
def test_tutorial_code_is_pytorch_code(name, tmp_path, monkeypatch):
    """The control: the same sections run on PyTorch as written (torchvision ones only when it is installed)."""
    monkeypatch.chdir(tmp_path)
    assert run_tutorial("torch", name) == [section for section, _ in TUTORIALS[name]]


def test_section_count_in_the_docs():
    """docs/from-pytorch.md states how many tutorials and sections this test runs."""
    from tests.test_docs import DOCS
    sections = sum(len(s) for s in TUTORIALS.values())
    assert f"{len(TUTORIALS)} tutorials, {sections} sections" in (DOCS / "from-pytorch.md").read_text()


@pytest.mark.parametrize("code, error, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_what_minicnn_refuses_says_why(code, error, message, tmp_path, monkeypatch):
    import minicnn as torch
    from minicnn import models
    monkeypatch.chdir(tmp_path)
    model = models.get("lenet5")
    torch.save(model.state_dict(), "model_weights.pth")
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(error, match=re.escape(message)):
        exec(code, {"torch": torch, "models": models, "model": model, "x": x})
