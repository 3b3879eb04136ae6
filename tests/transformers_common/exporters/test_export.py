"""Stand-in for transformers' ``tests/exporters/test_export.py`` (not in the 5.25.0 sdist).

transformers' ``ModelTesterMixin`` inherits ``ExportTesterMixin``; the original drives transformers' exporters
(``transformers.exporters``) over every model. This stand-in keeps the part that applies to every model here:
``torch.export`` of each class in ``all_model_classes`` with the tester's inputs (``test_torch_exportable``), the
exported program giving the model's own outputs on a batch of another size.
"""

import copy

import pytest
import torch


class ExportTesterMixin:
    """`torch.export` each model class at the tester's sizes; the batch dimension is left dynamic."""

    test_torch_exportable = True

    @pytest.mark.slow
    def test_torch_export(self):
        if not self.test_torch_exportable:
            self.skipTest(reason="test_torch_exportable is False")
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            with self.subTest(model_class.__name__):
                model = model_class(copy.deepcopy(config)).eval()
                inputs = self._prepare_for_class(inputs_dict, model_class)
                batch = torch.export.Dim("batch", min=1)
                dynamic = {
                    name: ({0: batch} if isinstance(value, torch.Tensor) else None) for name, value in inputs.items()
                }
                with torch.no_grad():
                    program = torch.export.export(model, (), inputs, dynamic_shapes=dynamic)
                    # another batch size, rows in another order: the program is not specialised to the example
                    other = {
                        name: torch.cat([value, value.flip(0)]) if isinstance(value, torch.Tensor) else value
                        for name, value in inputs.items()
                    }
                    expected, exported = model(**other), program.module()(**other)
                for name, value in expected.items():
                    torch.testing.assert_close(exported[name], value, rtol=1e-5, atol=1e-5, msg=name)
